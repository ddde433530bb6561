// Secrets in command lines stay on the host: process.command_args loses them, keeps everything else.
import t from 'tap';
import { redactArgs } from '../../src/metadata/command-line.js';
import { REDACTED as R, redaction } from '../../src/semconv/redaction.js';
import { XorShift32 } from '../helpers/prng.js';

t.test('table: each way a secret is given, and what stays', async (t) => {
  const cases: Array<[string, string[], string[]]> = [
    // flags named after secrets (as before)
    ['--password=x', ['psql', '--password=hunter2', '-h', 'db'], ['psql', `--password=${R}`, '-h', 'db']],
    ['--api-key x', ['app', '--api-key', 'k123', '--port', '80'], ['app', '--api-key', R, '--port', '80']],
    ['single-dash Go flag', ['svc', '-token=abc', '-addr=:8080'], ['svc', `-token=${R}`, '-addr=:8080']],
    ['Java property', ['java', '-Dspring.datasource.password=pw', '-Dfile.encoding=UTF-8', '-jar', 'app.jar'], ['java', `-Dspring.datasource.password=${R}`, '-Dfile.encoding=UTF-8', '-jar', 'app.jar']],
    ['camelCase property', ['java', '-Djavax.net.ssl.keyStorePassword=pw'], ['java', `-Djavax.net.ssl.keyStorePassword=${R}`]],
    ['a switch takes no value', ['psql', '--no-password', '-h', 'db'], ['psql', '--no-password', '-h', 'db']],
    ['a file path is not the secret', ['app', '--password-file', '/run/secrets/db', '--token-file=/t'], ['app', '--password-file', '/run/secrets/db', '--token-file=/t']],
    ['docker login --password-stdin', ['docker', 'login', '--password-stdin', '-u', 'bob', 'registry'], ['docker', 'login', '--password-stdin', '-u', 'bob', 'registry']],
    ['curl --oauth2-bearer', ['curl', '--oauth2-bearer', 'tok', 'https://x'], ['curl', '--oauth2-bearer', R, 'https://x']],
    ['curl --cookie', ['curl', '--cookie', 'sid=1', 'https://x'], ['curl', '--cookie', R, 'https://x']],
    // headers
    ['-H next argument', ['curl', '-H', 'Authorization: Bearer abc.def', 'https://api.example.com/v1'], ['curl', '-H', `Authorization: ${R}`, 'https://api.example.com/v1']],
    ['--header next argument', ['curl', '--header', 'authorization:Basic dXNlcjpwdw==', 'https://x'], ['curl', '--header', `authorization:${R}`, 'https://x']],
    ['-H joined', ['curl', '-HCookie: session=abc; theme=dark', 'https://x'], ['curl', `-HCookie: ${R}`, 'https://x']],
    ['-H of a harmless header', ['curl', '-H', 'Accept: application/json', '-H', 'X-Request-Id: 42', 'https://x'], ['curl', '-H', 'Accept: application/json', '-H', 'X-Request-Id: 42', 'https://x']],
    ['custom secret header', ['curl', '-H', 'X-Api-Key: k', '-H', 'X-Vault-Token: v'], ['curl', '-H', `X-Api-Key: ${R}`, '-H', `X-Vault-Token: ${R}`]],
    ['--proxy-header', ['curl', '--proxy-header', 'Proxy-Authorization: Basic cXdl'], ['curl', '--proxy-header', `Proxy-Authorization: ${R}`]],
    ['wget --header=', ['wget', '--header=Authorization: token ghp_abc', 'https://x/f'], ['wget', `--header=Authorization: ${R}`, 'https://x/f']],
    ['-H then something else: read as usual', ['tool', '-H', '--token=abc'], ['tool', '-H', `--token=${R}`]],
    ['httpie items', ['http', 'POST', 'api.example.com/x', 'Authorization:Bearer t', 'access_token==t2', 'page==2', 'Accept:text/plain'],
      ['http', 'POST', 'api.example.com/x', `Authorization:${R}`, `access_token==${R}`, 'page==2', 'Accept:text/plain']],
    ['git extraHeader', ['git', '-c', 'http.extraHeader=Authorization: Bearer t', 'clone', 'https://x/r'], ['git', '-c', `http.extraHeader=Authorization: ${R}`, 'clone', 'https://x/r']],
    // KEY=value
    ['env KEY=value', ['env', 'DB_PASSWORD=pw', 'LOG_LEVEL=debug', 'app'], ['env', `DB_PASSWORD=${R}`, 'LOG_LEVEL=debug', 'app']],
    ['docker -e', ['docker', 'run', '-e', 'GITHUB_TOKEN=ghp_1', '-e', 'TZ=UTC', 'img'], ['docker', 'run', '-e', `GITHUB_TOKEN=${R}`, '-e', 'TZ=UTC', 'img']],
    ['--env=KEY=value', ['docker', 'run', '--env=AWS_SECRET_ACCESS_KEY=abc', 'img'], ['docker', 'run', `--env=AWS_SECRET_ACCESS_KEY=${R}`, 'img']],
    ['many secret keys', ['x', 'API_KEY=1', 'access_key=2', 'PRIVATE_KEY=3', 'CREDENTIALS=4', 'client_secret=5', 'SECRET_KEY_BASE=6', 'Token=7'],
      ['x', `API_KEY=${R}`, `access_key=${R}`, `PRIVATE_KEY=${R}`, `CREDENTIALS=${R}`, `client_secret=${R}`, `SECRET_KEY_BASE=${R}`, `Token=${R}`]],
    ['helm --set', ['helm', 'install', '--set', 'db.password=pw', '--set', 'image.tag=1.2'], ['helm', 'install', '--set', `db.password=${R}`, '--set', 'image.tag=1.2']],
    ['keys that only qualify a secret', ['x', 'TOKEN_TYPE=bearer', 'KEY_SIZE=2048', 'session_timeout=30'], ['x', 'TOKEN_TYPE=bearer', 'KEY_SIZE=2048', 'session_timeout=30']],
    // clients' short flags
    ['redis-cli -a', ['/usr/bin/redis-cli', '-a', 'rd-pw', 'GET', 'k'], ['/usr/bin/redis-cli', '-a', R, 'GET', 'k']],
    ['mariadb -pPW', ['mariadb', '-uroot', '-pmy-pw', 'db'], ['mariadb', '-uroot', `-p${R}`, 'db']],
    ['mysql bare -p prompts', ['mariadb', '-p', 'db'], ['mariadb', '-p', 'db']],
    ['mysql --password next', ['mysql', '--password', 'pw', '-h', 'db'], ['mysql', '--password', R, '-h', 'db']],
    ['mysql --password=', ['mysqldump', '--password=pw', 'shop'], ['mysqldump', `--password=${R}`, 'shop']],
    ['sshpass -p', ['sshpass', '-p', 'pw', 'ssh', 'host'], ['sshpass', '-p', R, 'ssh', 'host']],
    ['curl -u', ['curl', '-u', 'bob:pw', 'https://x'], ['curl', '-u', `bob:${R}`, 'https://x']],
    ['curl -u joined, --user=', ['curl', '-ubob:pw', '--user=al:pw2', 'https://x'], ['curl', `-ubob:${R}`, `--user=al:${R}`, 'https://x']],
    ['curl -u user alone prompts', ['curl', '-u', 'bob', 'https://x'], ['curl', '-u', 'bob', 'https://x']],
    ['-u is not curl\'s elsewhere', ['mysql', '-u', 'bob:x'], ['mysql', '-u', 'bob:x']],
    // URLs
    ['URL password', ['worker', 'postgres://bob:s3cret@db:5432/app'], ['worker', `postgres://bob:${R}@db:5432/app`]],
    ['URL without credentials', ['curl', 'http://example/x'], ['curl', 'http://example/x']],
    ['token as the user of an https URL', ['git', 'clone', 'https://ghp_abc123@github.com/o/r.git'], ['git', 'clone', `https://${R}@github.com/o/r.git`]],
    ['a user name alone elsewhere stays', ['psql', 'postgresql://postgres@localhost/db'], ['psql', 'postgresql://postgres@localhost/db']],
    ['query tokens', ['curl', 'https://api.example.com/v1/items?access_token=abc&page=2&X-Amz-Signature=s'], ['curl', `https://api.example.com/v1/items?access_token=${R}&page=2&X-Amz-Signature=${R}`]],
    ['URL inside a flag value', ['app', '--upstream=https://u:p@x/?key=k&a=1'], ['app', `--upstream=https://u:${R}@x/?key=${R}&a=1`]],
    ['URL inside KEY=value', ['env', 'DATABASE_URL=postgres://app:pw@db/app', 'app'], ['env', `DATABASE_URL=postgres://app:${R}@db/app`, 'app']],
    ['a password with # and ?', ['app', 'redis://:p#ss?w@cache:6379/0'], ['app', `redis://:${R}@cache:6379/0`]],
  ];
  for (const [name, args, want] of cases) t.same(redactArgs(args), want, name);
});

t.test('configured query parameter names apply to URLs on command lines', async (t) => {
  const rules = redaction({ queryParams: ['email'] });
  t.same(redactArgs(['curl', 'https://x/?email=a@b.c&page=1'], rules), ['curl', `https://x/?email=${R}&page=1`]);
  t.same(redactArgs(['curl', 'https://x/?email=a@b.c&page=1']), ['curl', 'https://x/?email=a@b.c&page=1'], 'not by default');
});

// What a program's arguments look like when they hold no secret.
const PROGRAMS = ['app', '/usr/local/bin/server', 'python3', 'node', 'java', 'nginx', 'curl', 'docker', 'git', 'wget'];
const FLAGS = ['-v', '-vv', '--verbose', '--port', '-c', '--config', '-e', '--env', '--set', '-H', '--header', '--name', '--workers', '-m', '--user-agent',
  '--log-level', '--listen', '--data', '-d', '-o', '--output', '-jar', '-X', '--request', '--retry', '--'];
const WORDS = ['run', 'serve', 'GET', 'POST', 'db', 'shop', 'http.server', 'app.jar', 'main.py', 'localhost:8080', ':9090', '8080', '0', '-1', '3.14',
  '/etc/app/config.yaml', './data', 'C:\\temp', 'TZ=UTC', 'LOG_LEVEL=debug', 'image.tag=1.2', 'replicas=3', 'Accept: application/json',
  'Content-Type: text/plain', 'X-Request-Id: 7', 'https://example.com/api/v1/items?page=2&sort=name', 'http://[::1]:8080/health',
  'postgres://db:5432/app', 'redis://cache:6379/0', 'ssh://git@github.com/o/r.git', 'mongodb://mongo/test', 'hello world', 'a=b=c', '{"a":1}',
  'key-value', 'keyword', 'author', 'passport', 'bypass', 'sessionless?', '--', ''];

function randomWord(r: XorShift32): string {
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/';
  let s = '';
  for (let i = 1 + r.int(10); i > 0; i--) s += chars[r.int(chars.length)]!;
  return s;
}

function benign(r: XorShift32): string {
  switch (r.int(5)) {
    case 0: return r.pick(FLAGS);
    case 1: return `${r.pick(FLAGS.filter((f) => f.startsWith('--') && f !== '--'))}=${r.chance(0.5) ? r.pick(WORDS) : randomWord(r)}`;
    case 2: return randomWord(r);
    default: return r.pick(WORDS);
  }
}

/** Ways to give a secret `s` on a command line, each one or two arguments. */
const PLANTS: Array<(s: string) => string[]> = [
  (s) => ['--password', s], (s) => [`--password=${s}`], (s) => ['--api-key', s], (s) => [`-token=${s}`], (s) => [`--client-secret=${s}`],
  (s) => [`-Dspring.datasource.password=${s}`], (s) => ['-H', `Authorization: Bearer ${s}`], (s) => [`-HCookie: session=${s}`],
  (s) => ['--header', `X-Api-Key: ${s}`], (s) => [`--header=Proxy-Authorization: Basic ${s}`], (s) => [`DB_PASSWORD=${s}`],
  (s) => [`AWS_SECRET_ACCESS_KEY=${s}`], (s) => [`GITHUB_TOKEN=${s}`], (s) => [`private_key=${s}`], (s) => [`CREDENTIALS=${s}`],
  (s) => [`--env=API_TOKEN=${s}`], (s) => [`https://api.example.com/v1?access_token=${s}&page=2`], (s) => [`postgres://bob:${s}@db/app`],
  (s) => [`https://${s}@github.com/o/r.git`], (s) => [`--url=https://x/?sig=${s}`], (s) => [`https://s3/o?X-Amz-Credential=${s}&X-Amz-Signature=${s}`],
];

t.test('property: non-secret argument lists pass unchanged; planted secrets never survive', async (t) => {
  for (let seed = 1; seed <= 3000; seed++) {
    const r = new XorShift32(seed);
    const args = [r.pick(PROGRAMS)];
    for (let n = r.int(12); n > 0; n--) args.push(benign(r));
    const out = redactArgs(args);
    if (JSON.stringify(out) !== JSON.stringify(args)) {
      t.same(out, args, `seed ${seed}: nothing secret, nothing changed`);
      return;
    }
    const secret = `Zq${seed.toString(36)}${randomWord(r).replace(/[./]/g, '')}9`;
    const plant = r.pick(PLANTS)(secret);
    const at = 1 + r.int(args.length);
    const planted = [...args.slice(0, at), ...plant, ...args.slice(at)];
    const got = redactArgs(planted);
    const kept = [...got.slice(0, at), ...got.slice(at + plant.length)];
    if (got.join('\n').includes(secret) || got.length !== planted.length || JSON.stringify(kept) !== JSON.stringify(args)) {
      t.fail(`seed ${seed}: ${JSON.stringify(planted)} → ${JSON.stringify(got)}`);
      return;
    }
  }
  t.pass('3000 random command lines');
});

t.test('arguments shaped like secrets, and SQL literals given to database clients', async (t) => {
  t.same(redactArgs(['curl', '-e', 'AKIAIOSFODNN7EXAMPLE', '--data-raw', 'Zt7Qw2Er9Ty4Ui6Op1As3Df', 'https://x/']),
    ['curl', '-e', R, '--data-raw', R, 'https://x/']);
  t.same(redactArgs(['app', '--ref=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig0sig0', 'ghp_abcdefghijklmnopqrstuvwxyz0123456789']), ['app', `--ref=${R}`, R]);
  t.same(redactArgs(['node', '/usr/lib/node_modules/App2/Main3.js', '--port=8080', '0b9e3c4a-1f2d-4e5f-8a9b-0c1d2e3f4a5b']),
    ['node', '/usr/lib/node_modules/App2/Main3.js', '--port=8080', '0b9e3c4a-1f2d-4e5f-8a9b-0c1d2e3f4a5b'], 'paths, numbers, UUIDs stay');
  t.same(redactArgs(['psql', '-h', 'db', '-c', "ALTER ROLE app PASSWORD 's3cr3t'", "--command=SELECT 'x'"]),
    ['psql', '-h', 'db', '-c', "ALTER ROLE app PASSWORD '?'", "--command=SELECT '?'"]);
  t.same(redactArgs(['mariadb', '-u', 'u', '-e', "SET PASSWORD = PASSWORD('pw')", "-eSELECT 'x'"]),
    ['mariadb', '-u', 'u', '-e', "SET PASSWORD = PASSWORD('?')", "-eSELECT '?'"]);
  t.same(redactArgs(['grep', '-e', "'x'"]), ['grep', '-e', "'x'"], 'only database clients\' SQL flags');
});
