// Secrets never leave, over every protocol: distinct secrets are planted where real programs put
// them — HTTP headers (Authorization, Cookie, Set-Cookie, Proxy-Authorization, an API key), query
// parameters by name (token, client_secret, api_key, sig) and by shape (a JWT, "Bearer …", a long
// random token under innocent names), a URL's userinfo, PostgreSQL passwords (scram and md5, from
// PGPASSWORD), a literal PostgreSQL echoes in its error, a role's new password in a statement, the
// MariaDB password (`-p`), Redis AUTH and HELLO 3 AUTH, gRPC `authorization` metadata, command
// lines (curl -H 'Authorization: Bearer …', mariadb -pPW, an AWS key and a random token as
// arguments), environment variables of traced processes, and the agent's own OTLP endpoint
// (userinfo) and headers — then
// every byte the agent lets out is searched for each of them: its OTLP file, what a real
// OpenTelemetry Collector received (and its log), the agent's log at debug level, and the control
// API's answers. The spans themselves must be there.
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { attr, startTestAgent } from '../helpers/agent.js';
import { buildGoFixture } from '../helpers/go-build.js';
import { startMariaDb } from '../helpers/mariadb.js';
import { startNginx } from '../helpers/nginx.js';
import { startOtelcol } from '../helpers/otelcol.js';
import { startPostgres } from '../helpers/postgres.js';
import { startRedisServer } from '../helpers/redis.js';
import { run, startPrintingPort } from '../helpers/spawn.js';

// Each secret is distinct, so that a find names the place it was planted.
const S = {
  httpAuthorization: 'HttpAuthzSecret7Hq2',
  httpCookie: 'HttpCookieSecret3Kd9',
  httpSetCookie: 'HttpSetCookieSecret5Wm1',
  httpProxyAuth: 'HttpProxyAuthSecret2Pz8',
  httpApiKeyHeader: 'HttpApiKeyHeader4Ut7',
  queryToken: 'QueryTokenSecret4Lr6',
  queryClientSecret: 'QueryClientSecret8Nv3',
  queryApiKey: 'QueryApiKeySecret6Tj5',
  querySig: 'QuerySigSecret9Bx4',
  queryJwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsYW50ZXJuIn0.QueryJwtSig0Vf2',
  queryBearer: 'QueryBearerSecret1Mn8',
  queryEntropy: 'q8Zr3XkP0vLm7WnT2yBc5Hd9',
  userinfoPassword: 'UserinfoPwSecret1Qc7',
  cmdBearer: 'CmdLineBearerSecret1Jk7',
  cmdAwsKey: 'AKIAIOSFODNN7LANTERN',
  cmdEntropy: 'Zt7Qw2Er9Ty4Ui6Op1As3Df',
  envSecret: 'EnvPasswordSecret9Zx0',
  envPlain: 'EnvPlainSecret4Gh8',
  pgScram: 'PgScramSecret3Rt8',
  pgMd5: 'PgMd5Secret7Yu2',
  pgLiteral: 'PgLiteralSecret5Ei1',
  pgNewPassword: 'PgNewPasswordSecret6Wq3',
  mysql: 'MysqlSecret4Op6',
  redisAuth: 'RedisAuthSecret2As3',
  redisHello: 'RedisHelloSecret6Df4',
  grpcAuthorization: 'GrpcAuthzSecret8Gh5',
  otlpHeader: 'OtlpHeaderSecret3Cv6',
  otlpUserinfo: 'OtlpUserinfoSecret7Kl2',
} as const;

/** Each secret as it may appear: as it is, base64 (HTTP Basic), percent-encoded JWT dots are plain. */
function forms(secret: string): string[] {
  return [secret, Buffer.from(secret).toString('base64').replace(/=+$/, '')];
}

const dir = mkdtempSync(join(tmpdir(), 'lantern-redaction-'));
const otlpFile = join(dir, 'otlp.jsonl');
const configFile = join(dir, 'lantern.yaml');
// Capturing the credential headers makes redaction, not omission, the thing tested.
writeFileSync(configFile, [
  'http:',
  '  capture_request_headers: [authorization, cookie, proxy-authorization, x-api-key, user-agent]',
  '  capture_response_headers: [set-cookie, content-type]',
  '',
].join('\n'));

// Servers and accounts first, before the agent: their set-up commands carry the passwords too.
const otelcol = await startOtelcol();
const nginx = await startNginx({
  locations: `location /login { add_header Set-Cookie "session=${S.httpSetCookie}; HttpOnly"; return 200 "ok\\n"; }`,
});
const pg = await startPostgres([
  { name: 'scramuser', password: S.pgScram, method: 'scram-sha-256' },
  { name: 'md5user', password: S.pgMd5, method: 'md5' },
], [{ name: 'appdb', owner: 'scramuser' }]);
const maria = await startMariaDb();
const mariaSetup = await maria.rootSql(`CREATE USER 'lantern'@'127.0.0.1' IDENTIFIED BY '${S.mysql}'; GRANT ALL ON *.* TO 'lantern'@'127.0.0.1';`);
const redis = await startRedisServer(S.redisAuth);
const acl = await redis.cli(['ACL', 'SETUSER', 'helloer', 'on', `>${S.redisHello}`, '~*', '+@all']);
const grpcBin = buildGoFixture('grpc-echo');

// The agent: scoped to this process's descendants and the servers, exporting to the file and to the
// Collector (with a secret header), logging at debug level into the test's memory.
const previousDbg = process.env.DBG;
process.env.DBG = '1';
const agent = await startTestAgent({
  pids: [...nginx.pids, pg.pid, maria.pid, redis.pid],
  collectors: 'sockets,process',
  otlpFile,
  configFile,
  env: {
    OTEL_EXPORTER_OTLP_ENDPOINT: otelcol.grpcEndpoint.replace('://', `://lantern:${S.otlpUserinfo}@`),
    OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${S.otlpHeader}`,
  },
});
if (previousDbg === undefined) delete process.env.DBG;
else process.env.DBG = previousDbg;
let stopped = false;
t.teardown(async () => {
  if (!stopped) await agent.stop();
  await Promise.allSettled([otelcol.stop(), nginx.stop(), pg.stop(), maria.stop(), redis.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const pidOf = (s: SpanRecord): number => Number(s.resource.attributes['process.pid']);
const base = `http://127.0.0.1:${nginx.port}`;

t.test('every protocol carries its secrets past the agent, and none leaves', async (t) => {
  t.equal(mariaSetup.code, 0, mariaSetup.stderr);
  t.equal(acl.stdout.trim(), 'OK', acl.stderr);
  const env = { DB_PASSWORD: S.envSecret, LANTERN_PLANTED: S.envPlain };

  // HTTP: credential headers, secret query parameters by name and by shape, a secret Set-Cookie.
  const query = `token=${S.queryToken}&client_secret=${S.queryClientSecret}&api_key=${S.queryApiKey}&sig=${S.querySig}` +
    `&state=${S.queryJwt}&q=Bearer%20${S.queryBearer}&ref=${S.queryEntropy}&page=2`;
  const curl = await run('curl', ['-s', '-o', '/dev/null', '-H', `Authorization: Bearer ${S.httpAuthorization}`, '-H', `Cookie: sid=${S.httpCookie}`,
    '-H', `Proxy-Authorization: Basic ${S.httpProxyAuth}`, '-H', `X-Api-Key: ${S.httpApiKeyHeader}`, `${base}/login?${query}`], { env });
  t.equal(curl.code, 0, curl.stderr);
  // A URL's userinfo (curl sends it as Basic credentials), a Bearer token on the command line, an
  // AWS key and a random token as arguments.
  const userinfo = await run('curl', ['-s', '-o', '/dev/null', `http://lantern:${S.userinfoPassword}@127.0.0.1:${nginx.port}/status`], { env });
  t.equal(userinfo.code, 0, userinfo.stderr);
  // (Three requests at 2/s: curl lives long enough for the agent to read its command line.)
  const cmd = await run('curl', ['-s', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '--rate', '2/s', '-H', `Authorization: Bearer ${S.cmdBearer}`,
    '-e', S.cmdAwsKey, '--data-raw', S.cmdEntropy, `${base}/status?cmd=1`, `${base}/status?cmd=2`, `${base}/status?cmd=3`], { env });
  t.equal(cmd.code, 0, cmd.stderr);

  // PostgreSQL: scram and md5 logins from PGPASSWORD, an error quoting a literal, a new password.
  const psql = (user: string, password: string, sql: string, ...more: string[]): ReturnType<typeof run> => run('psql', ['-X', '-h', '127.0.0.1', '-p', String(pg.port),
    '-U', user, '-d', 'appdb', '-c', sql, ...more], { env: { ...env, PGPASSWORD: password, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '5' } });
  t.equal((await psql('scramuser', S.pgScram, 'SELECT 1 AS scram')).code, 0);
  t.equal((await psql('md5user', S.pgMd5, 'SELECT 2 AS md5')).code, 0);
  const literal = await psql('scramuser', S.pgScram, `SELECT '${S.pgLiteral}'::int`);
  t.match(literal.stderr, S.pgLiteral, 'the server echoes the literal in its error');
  t.equal((await psql('scramuser', S.pgScram, `ALTER ROLE scramuser PASSWORD '${S.pgNewPassword}'`, '-c', 'SELECT pg_sleep(0.5)')).code, 0);

  // MariaDB: the password on the command line (and in the handshake's scramble); the client lives
  // half a second, for the agent to read its command line.
  const mysql = await run('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(maria.port), '-u', 'lantern', `-p${S.mysql}`, '-e', 'SELECT 3 AS mysql; SELECT SLEEP(0.5)'], { env });
  t.equal(mysql.code, 0, mysql.stderr);

  // Redis: AUTH and HELLO 3 AUTH, typed on redis-cli's stdin.
  const rcli = await run('redis-cli', ['-p', String(redis.port)], {
    env, input: `AUTH ${S.redisAuth}\nHELLO 3 AUTH helloer ${S.redisHello}\nSET lantern:k v\n`,
  });
  t.match(rcli.stdout, 'OK', rcli.stderr);

  // gRPC: `authorization` metadata on every call.
  const server = await startPrintingPort(grpcBin, ['server'], { OTEL_SERVICE_NAME: 'grpc-echo' });
  t.teardown(() => server.stop());
  const grpc = await run(grpcBin, ['client', `127.0.0.1:${server.port}`], { env: { ...env, GRPC_AUTHORIZATION: `Bearer ${S.grpcAuthorization}` } });
  t.match(grpc.stdout, 'Say OK', grpc.stderr);

  // The spans are there.
  const nginxPids = new Set(nginx.pids);
  const login = await agent.waitForSpans((s) => s.kind === 'server' && nginxPids.has(pidOf(s)) && attr(s, 'url.path') === '/login', 1);
  t.equal(login.length, 1, 'the HTTP server span');
  t.same(attr(login[0], 'http.request.header.authorization'), ['REDACTED'], 'a captured Authorization is REDACTED');
  t.same(attr(login[0], 'http.response.header.set-cookie'), ['REDACTED']);
  t.match(String(attr(login[0], 'url.query')), /page=2$/, 'the innocent parameter stays');
  t.equal((await agent.waitForSpans((s) => s.kind === 'client' && attr(s, 'url.path') === '/status', 4)).length, 4, 'the userinfo and command-line requests');
  const pgSpans = await agent.waitForSpans((s) => attr(s, 'db.system.name') === 'postgresql' && s.kind === 'client', 4);
  t.ok(pgSpans.length >= 4, `${pgSpans.length} PostgreSQL client spans`);
  t.ok(pgSpans.some((s) => s.status.code === 'error'), 'the failed cast is an error span');
  t.ok((await agent.waitForSpans((s) => ['mysql', 'mariadb'].includes(String(attr(s, 'db.system.name'))) && s.kind === 'client', 1)).length >= 1, 'a MariaDB client span');
  t.ok((await agent.waitForSpans((s) => attr(s, 'db.system.name') === 'redis' && s.kind === 'client', 3)).length >= 3, 'Redis AUTH, HELLO, SET');
  t.ok((await agent.waitForSpans((s) => attr(s, 'rpc.system.name') === 'grpc' && s.kind === 'server', 8)).length >= 8, 'gRPC server spans');

  // The control API's answers, then the agent stops (flushing the file and the Collector).
  const url = agent.agent.controlUrl;
  const auth = { authorization: `Bearer ${agent.agent.controlToken ?? ''}` };
  let api = '';
  for (const path of ['/api/spans?limit=10000', '/api/services', '/api/stats', '/api/logs?limit=10000', '/metrics']) {
    const r = await fetch(`${url}${path}`, { headers: auth });
    t.equal(r.status, 200, path);
    api += `${path}\n${await r.text()}\n`;
  }
  await agent.stop();
  stopped = true;
  const until = Date.now() + 15_000;
  while (!otelcol.spans().some((s) => s.span.name === 'lantern.test.Echo/Say') && Date.now() < until) await new Promise((r) => setTimeout(r, 100));

  const received = otelcol.spans();
  t.ok(received.some((s) => s.span.name === 'lantern.test.Echo/Say'), 'the Collector received the gRPC spans');
  t.ok(received.some((s) => s.span.attributes?.some((a) => a.key === 'db.system.name' && 'stringValue' in a.value && a.value.stringValue === 'postgresql')),
    'and the PostgreSQL ones');
  const outputs: Record<string, string> = {
    'the agent\'s OTLP file': readFileSync(otlpFile, 'utf8'),
    'what the Collector received': JSON.stringify(otelcol.requests()),
    'the Collector\'s log': otelcol.output(),
    'the agent\'s log': agent.log.join(''),
    'the control API': api,
  };
  t.ok(outputs['the agent\'s OTLP file']!.includes('"/login"'), 'the file holds the spans');
  t.ok(outputs['the agent\'s log']!.length > 0, 'the agent logged');
  // The command lines were read (and redacted), not missed: the searches above would pass on nothing.
  const file = outputs['the agent\'s OTLP file']!;
  t.ok(file.includes(`"-pREDACTED"`), 'mariadb\'s -p was exported, redacted');
  t.ok(file.includes('Authorization: REDACTED'), 'curl\'s -H Authorization was exported, redacted');
  t.ok(file.includes(`"ALTER ROLE scramuser PASSWORD '?'"`), 'psql -c SQL was exported with its literal as ?');
  t.ok(outputs['the agent\'s log']!.includes('lantern:REDACTED@127.0.0.1'), 'the endpoint is logged, without its password');
  for (const [where, text] of Object.entries(outputs)) {
    const found = Object.entries(S).filter(([, secret]) => forms(secret).some((f) => text.includes(f)));
    const context = found.map(([name, secret]) => {
      const f = forms(secret).find((x) => text.includes(x))!;
      const i = text.indexOf(f);
      return `${name}: …${text.slice(Math.max(0, i - 160), i + f.length + 40)}…`;
    });
    t.same(found.map(([name]) => name), [], `${where}: no planted secret\n${context.join('\n')}`);
  }
});
