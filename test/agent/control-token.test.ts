// The control API's token stays on the host: never in the agent's log, written to a file only root
// can read (0600, its directory 0700), replaced whole, removed at stop; without it the API refuses.
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { readTokenFile, removeTokenFile, writeTokenFile } from '../../src/server/token-file.js';
import { startTestAgent } from '../helpers/agent.js';

const dir = mkdtempSync(join(tmpdir(), 'lantern-token-test-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const mode = (p: string): number => statSync(p).mode & 0o777;

t.test('the token file: 0600 in a 0700 directory, replaced whole, removed only when it is ours', async (t) => {
  const path = join(dir, 'run', 'lantern', 'token');
  writeTokenFile(path, 'first-token');
  t.equal(readFileSync(path, 'utf8'), 'first-token\n');
  t.equal(mode(path), 0o600);
  t.equal(mode(join(dir, 'run', 'lantern')), 0o700, 'the directory it made is root\'s only');
  t.equal(readTokenFile(path), 'first-token');

  chmodSync(path, 0o644);
  writeTokenFile(path, 'second-token');
  t.equal(readTokenFile(path), 'second-token');
  t.equal(mode(path), 0o600, 'a file made readable meanwhile is replaced by a 0600 one');

  const target = join(dir, 'elsewhere');
  writeFileSync(target, 'precious');
  const link = join(dir, 'link-token');
  symlinkSync(target, link);
  writeTokenFile(link, 'third-token');
  t.notOk(lstatSync(link).isSymbolicLink(), 'a symbolic link at the path is replaced, not followed');
  t.equal(readFileSync(target, 'utf8'), 'precious');
  t.equal(readTokenFile(link), 'third-token');

  removeTokenFile(path, 'someone-else');
  t.ok(existsSync(path), 'another agent\'s token stays');
  removeTokenFile(path, 'second-token');
  t.notOk(existsSync(path));
  t.equal(readTokenFile(path), undefined);
});

/** Every line the agent logged, and where the token could have leaked. */
function assertNotLogged(t: Test, log: string[], token: string): void {
  t.ok(log.length > 0, 'the agent logged');
  t.notOk(log.some((l) => l.includes(token)), 'no log line carries the token');
}

t.test('an agent: token file instead of a logged token; the API refuses without it', async (t) => {
  const agent = await startTestAgent({ collectors: 'process' });
  t.teardown(() => agent.stop());
  const token = agent.agent.controlToken;
  const url = agent.agent.controlUrl;
  if (token === null || url === null || agent.tokenFile === undefined) throw new Error(`the control API did not start: ${agent.log.join('')}`);
  t.ok(token.length >= 32, 'a generated token');
  assertNotLogged(t, agent.log, token);
  t.match(agent.log.join(''), `local view and control API  url=${url} token_file=${agent.tokenFile}`, 'the log names the file');
  t.equal(readFileSync(agent.tokenFile, 'utf8'), `${token}\n`);
  t.equal(mode(agent.tokenFile), 0o600);
  t.equal(statSync(agent.tokenFile).uid, process.getuid?.(), 'owned by the agent\'s user (root)');

  t.equal((await fetch(`${url}/api/stats`)).status, 401, 'no token: refused');
  t.equal((await fetch(`${url}/api/stats`, { headers: { authorization: `Bearer ${token.slice(1)}` } })).status, 401, 'a wrong token: refused');
  t.equal((await fetch(`${url}/api/stats`, { headers: { authorization: `Bearer ${readTokenFile(agent.tokenFile)}` } })).status, 200, 'the file\'s token: served');
  await agent.stop();
  t.notOk(existsSync(agent.tokenFile), 'removed at stop');
  assertNotLogged(t, agent.log, token);
});

t.test('a configured token and token file; a file that cannot be written is reported, the token still not logged', async (t) => {
  const token = 'configured-token-0123456789abcdef';
  const tokenFile = join(dir, 'configured', 'token');
  const configFile = join(dir, 'configured.yaml');
  writeFileSync(configFile, `server:\n  token: ${token}\n  token_file: ${tokenFile}\n`);
  const agent = await startTestAgent({ collectors: 'process', configFile });
  t.equal(agent.tokenFile, tokenFile);
  t.equal(readTokenFile(tokenFile), token, 'server.token is what the file holds');
  t.equal(mode(tokenFile), 0o600);
  await agent.stop();
  assertNotLogged(t, agent.log, token);

  const blocker = join(dir, 'not-a-directory');
  writeFileSync(blocker, '');
  const badConfig = join(dir, 'bad.yaml');
  writeFileSync(badConfig, `server:\n  token: ${token}\n  token_file: ${join(blocker, 'token')}\n`);
  const bad = await startTestAgent({ collectors: 'process', configFile: badConfig });
  t.teardown(() => bad.stop());
  t.match(bad.log.join(''), /warn .*token file not written.*token_file=\S+not-a-directory\/token error=/, 'reported as a warning');
  t.not(bad.agent.controlUrl, null, 'the API still serves');
  t.equal((await fetch(`${bad.agent.controlUrl}/api/stats`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  assertNotLogged(t, bad.log, token);
});
