// Socket addresses' texts, remembered by number, read as formatting them afresh does.
import t from 'tap';
import { formatIpv4, formatIpv6, ipv4Text, ipv6Text } from '../../src/model/address.js';

t.test('IPv4, IPv4-mapped and other IPv6 addresses, past the bound of those remembered, as formatted afresh', async (t) => {
  let seed = 11;
  const next = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >>> 16;
  let mismatches = 0;
  // 20,000 addresses over ~6,000 distinct values: the table of 4,096 fills, is cleared, refills.
  for (let i = 0; i < 20_000; i++) {
    const v4 = new Uint8Array([127, 0, next() % 24, next() % 250]);
    if (ipv4Text(Buffer.from(v4).readUInt32BE(0)) !== formatIpv4(v4)) mismatches++;
    const mapped = new Uint8Array(16);
    mapped.set([0xff, 0xff], 10);
    mapped.set(v4, 12);
    if (ipv6Text(mapped) !== formatIpv6(mapped)) mismatches++;
    const other = new Uint8Array(16);
    for (let k = 0; k < 16; k++) other[k] = next() % 4 === 0 ? next() & 0xff : 0;
    if (ipv6Text(other) !== formatIpv6(other)) mismatches++;
  }
  t.equal(mismatches, 0);
  t.equal(ipv4Text(0x0a000001), '10.0.0.1');
  t.equal(ipv4Text(0xc0a80a02), '192.168.10.2');
  t.equal(ipv4Text(0xffffffff), '255.255.255.255');
  t.equal(ipv6Text(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1])), '::ffff:10.0.0.1', 'mapped: not the IPv4 text remembered');
  t.equal(ipv6Text(Uint8Array.from([...new Array(15).fill(0), 1])), '::1');
  t.equal(ipv6Text(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 10, 0, 0, 1])), formatIpv6(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 10, 0, 0, 1])), 'half a mapped prefix: formatted');
});
