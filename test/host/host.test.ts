// Pure parts of host inspection: /proc/mounts and capability sets.
import t from 'tap';
import { isMounted, parseMounts } from '../../src/host/mounts.js';
import { CAP, effectiveCapabilities, hasCapability, privilegeReport } from '../../src/host/privileges.js';

const MOUNTS = `sysfs /sys sysfs rw,nosuid 0 0
nodev /sys/kernel/tracing tracefs rw,relatime 0 0
bpf /sys/fs/bpf bpf rw,relatime 0 0
/dev/sda1 /mnt/with\\040space ext4 rw 0 0
`;

t.test('parses /proc/mounts with escapes', async (t) => {
  const m = parseMounts(MOUNTS);
  t.equal(m.length, 4);
  t.equal(m[3]?.target, '/mnt/with space');
  t.ok(isMounted('tracefs', '/sys/kernel/tracing', MOUNTS));
  t.ok(isMounted('bpf', '/sys/fs/bpf', MOUNTS));
  t.notOk(isMounted('tracefs', '/sys/fs/bpf', MOUNTS));
});

t.test('capabilities decide whether BPF can be loaded', async (t) => {
  const root = privilegeReport('Name:\tx\nCapEff:\t000001ffffffffff\n', 0);
  t.ok(root.canLoadBpf);
  t.match(root.detail, /root/);
  const bpfOnly = (1n << BigInt(CAP.BPF)) | (1n << BigInt(CAP.PERFMON));
  const capBpf = privilegeReport(`CapEff:\t${bpfOnly.toString(16).padStart(16, '0')}\n`, 1000);
  t.ok(capBpf.canLoadBpf);
  t.equal(capBpf.detail, 'CAP_BPF + CAP_PERFMON');
  const none = privilegeReport('CapEff:\t0000000000000000\n', 1000);
  t.notOk(none.canLoadBpf);
  t.match(none.detail, /run as root/);
  t.equal(effectiveCapabilities('no caps line'), 0n);
  t.ok(hasCapability(1n << 21n, CAP.SYS_ADMIN));
});
