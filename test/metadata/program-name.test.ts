// The name a process goes by (src/metadata/program-name.ts): argv[0] when comm confirms it.
import t from 'tap';
import { argv0Program, programName } from '../../src/metadata/program-name.js';

t.test('argv[0] as it is passed and as programs rewrite it', async (t) => {
  t.equal(argv0Program('/usr/bin/redis-server'), 'redis-server');
  t.equal(argv0Program('redis-server'), 'redis-server');
  t.equal(argv0Program('/usr/bin/redis-server 127.0.0.1:6379'), 'redis-server', 'redis rewrites its title');
  t.equal(argv0Program('nginx: master process /usr/sbin/nginx -g daemon off;'), 'nginx');
  t.equal(argv0Program('postgres: 16/main: checkpointer'), 'postgres');
  t.equal(argv0Program('-bash'), 'bash', 'a login shell');
  t.equal(argv0Program(''), '');
});

t.test('which name wins', async (t) => {
  const cases: Array<[string, Parameters<typeof programName>[0], string | null]> = [
    // Debian's redis-server → redis-check-rdb: exe names the file, argv[0] and comm the program.
    ['a symlink to a multi-call binary', { argv0: '/usr/bin/redis-server 127.0.0.1:6379', comm: 'redis-server', executableName: 'redis-check-rdb' }, 'redis-server'],
    ['busybox', { argv0: 'sh', comm: 'sh', executableName: 'busybox' }, 'sh'],
    ['python3 → python3.11', { argv0: 'python3', comm: 'python3', executableName: 'python3.11' }, 'python3'],
    ['a script: comm is the script, argv[0] its interpreter', { argv0: '/usr/bin/python3', comm: 'gunicorn', executableName: 'python3.11' }, 'gunicorn'],
    ['a name longer than comm keeps', { argv0: '/usr/local/bin/kube-controller-manager', comm: 'kube-controller', executableName: 'kube-controller-manager' }, 'kube-controller-manager'],
    ['`exec -a` with another name: the kernel\'s name', { argv0: 'my-fancy-name', comm: 'sleep', executableName: 'sleep' }, 'sleep'],
    ['argv[0] /proc/self/exe (chromium\'s helpers)', { argv0: '/proc/self/exe', comm: 'chrome', executableName: 'chrome' }, 'chrome'],
    ['a login shell', { argv0: '-bash', comm: 'bash', executableName: 'bash' }, 'bash'],
    ['nginx worker title', { argv0: 'nginx: worker process', comm: 'nginx', executableName: 'nginx' }, 'nginx'],
    ['node renaming itself (process.title sets argv and comm)', { argv0: 'checkout-api', comm: 'checkout-api', executableName: 'node' }, 'checkout-api'],
    ['only comm (the process is gone)', { comm: 'curl' }, 'curl'],
    ['no comm: argv[0] when the executable agrees', { argv0: '/usr/bin/curl', comm: null, executableName: 'curl' }, 'curl'],
    ['no comm, argv[0] disagrees: the executable', { argv0: 'x', comm: '', executableName: 'curl' }, 'curl'],
    ['a comm cut inside a multi-byte character', { argv0: 'ééééééééé', comm: Buffer.from('ééééééééé').subarray(0, 15).toString(), executableName: 'x' }, 'ééééééééé'],
    ['nothing', {}, null],
  ];
  for (const [name, src, want] of cases) t.equal(programName(src), want, name);
});
