// Which names are secrets, and how query strings, URLs and header lines lose their values.
import t from 'tap';
import { REDACTED as R, isSecretName, looksLikeSecret, nameWords, redactHeaderLine, redactQuery, redactUrls, redaction } from '../../src/semconv/redaction.js';
import { capturedHeaderAttributes } from '../../src/semconv/headers.js';
import { redactPgMessage } from '../../src/semconv/postgres.js';
import { headerPairs } from '../../src/model/header-pairs.js';

t.test('name words', async (t) => {
  t.same(nameWords('X-Amz-Signature'), ['x', 'amz', 'signature']);
  t.same(nameWords('AWSAccessKeyId'), ['aws', 'access', 'key', 'id']);
  t.same(nameWords('apiKey'), ['api', 'key']);
  t.same(nameWords('client_secret'), ['client', 'secret']);
  t.same(nameWords('__'), []);
});

t.test('secret names: by pattern, deliberately', async (t) => {
  const secret = [
    // the semantic conventions' list for url.query
    'AWSAccessKeyId', 'Signature', 'sig', 'X-Goog-Signature',
    'token', 'access_token', 'id_token', 'refresh_token', 'x-amz-security-token', 'X-Amz-Credential', 'X-Goog-Credential', 'authenticity_token',
    'secret', 'client_secret', 'password', 'passwd', 'pwd', 'pass', 'pw', 'db_password', 'passphrase',
    'key', 'api_key', 'apikey', 'api-key', 'apiKey', 'access_key', 'accessKey', 'private_key', 'SECRET_KEY_BASE', 'subscription-key',
    'auth', 'authorization', 'oauth_token', 'oauth_signature', 'oauth_verifier', 'code_verifier', 'auth_token', 'x-registry-auth',
    'session', 'sessionid', 'session_id', 'JSESSIONID', 'PHPSESSID', 'sid', 'cookie', 'set-cookie',
    'credentials', 'creds', 'jwt', 'otp', 'hmac', 'bearer', 'code',
  ];
  const plain = [
    'q', 'page', 'sort', 'id', 'user', 'username', 'email', 'state', 'redirect_uri', 'client_id', 'scope', 'lang',
    'author', 'authority', 'keyword', 'keys', 'monkey', 'passport', 'bypass', 'design', 'signup',
    'country_code', 'error_code', 'token_type', 'key_size', 'password_file', 'token-path', 'session_timeout', 'auth_method', 'signature_version',
    'content-type', 'accept', 'user-agent', 'host', 'x-request-id', 'x-forwarded-for', 'tracestate', '',
  ];
  for (const n of secret) t.ok(isSecretName(n), `${n} is secret`);
  for (const n of plain) t.notOk(isSecretName(n), `${n} is not`);
});

t.test('query strings: secret values become REDACTED, names and the rest stay', async (t) => {
  const cases: Array<[string, string]> = [
    ['a=1&b=2', 'a=1&b=2'],
    ['X-Amz-Signature=abc&part=1&sig=zz', `X-Amz-Signature=${R}&part=1&sig=${R}`],
    ['AWSAccessKeyId=AKIA&Expires=1&Signature=s', `AWSAccessKeyId=${R}&Expires=1&Signature=${R}`],
    ['access_token=t&refresh_token=r&page=2', `access_token=${R}&refresh_token=${R}&page=2`],
    ['code=abc&state=xyz', `code=${R}&state=xyz`],
    ['api%5Fkey=k&q=shoes', `api%5Fkey=${R}&q=shoes`],
    ['token', 'token'],
    ['token=', `token=${R}`],
    ['%E0%A4%A=1&password=p', `%E0%A4%A=1&password=${R}`],
  ];
  for (const [q, want] of cases) t.equal(redactQuery(q), want, q);
  const rules = redaction({ queryParams: ['Email', 'ssn'] });
  t.equal(redactQuery('email=a%40b.c&SSN=1&page=2&token=t', rules), `email=${R}&SSN=${R}&page=2&token=${R}`, 'configured names add to the patterns');
  t.equal(redactQuery('email=a%40b.c'), 'email=a%40b.c', 'not by default');
});

t.test('URLs in text', async (t) => {
  t.equal(redactUrls('no url here'), 'no url here');
  t.equal(redactUrls('postgres://bob:s3cret@db:5432/app'), `postgres://bob:${R}@db:5432/app`);
  t.equal(redactUrls('https://tok123@github.com/o/r'), `https://${R}@github.com/o/r`);
  t.equal(redactUrls('ssh://git@github.com/o/r'), 'ssh://git@github.com/o/r');
  t.equal(redactUrls('see https://x/cb?code=c&state=s#frag and http://y/?q=1'), `see https://x/cb?code=${R}&state=s#frag and http://y/?q=1`);
  t.equal(redactUrls('https://x/p?email=a@b.c'), 'https://x/p?email=a@b.c', 'an @ in the query is not userinfo');
});

t.test('header lines', async (t) => {
  t.equal(redactHeaderLine('Authorization: Bearer x'), `Authorization: ${R}`);
  t.equal(redactHeaderLine('cookie:a=b'), `cookie:${R}`);
  t.equal(redactHeaderLine('Accept: */*'), 'Accept: */*');
  t.equal(redactHeaderLine('not a header'), 'not a header');
  t.equal(redactHeaderLine('X-Tenant: acme', redaction({ headers: ['x-tenant'] })), `X-Tenant: ${R}`, 'configured header names');
});

t.test('secrets by shape, whatever their name', async (t) => {
  for (const v of [
    'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl', 'Bearer abcdefgh12345678', 'basic dXNlcjpwYXNzd29yZA==', 'AKIAIOSFODNN7EXAMPLE',
    'ghp_abcdefghijklmnopqrstuvwxyz0123456789', 'xoxb-1234567890-abcdefghij', 'sk_live_abcdefghijklmnop1234', 'q8Zr3XkP0vLm7WnT2yBc5Hd9',
    'glpat-abcdefghij0123456789',
  ]) t.ok(looksLikeSecret(v), v);
  for (const v of [
    'hello', '2024-01-31', '0b9e3c4a-1f2d-4e5f-8a9b-0c1d2e3f4a5b', 'deadbeefdeadbeefdeadbeefdeadbeef00112233', 'getting-started-with-the-collector',
    '/usr/lib/x86_64-linux-gnu/Lib64Path2', 'https://example.com/a?b=c', 'Mozilla/5.0 (X11; Linux x86_64)', 'application/json', '--config=/etc/App2/File3.yaml',
    'SELECT 1', 'CamelCaseName', 'node_modules/.bin/tsc',
  ]) t.notOk(looksLikeSecret(v), v);
});

t.test('query values shaped like secrets lose them; the names stay', async (t) => {
  t.equal(redactQuery('state=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig0sig0&page=2'), `state=${R}&page=2`);
  t.equal(redactQuery('q=Bearer%20abcdefgh12345678&x=1'), `q=${R}&x=1`);
  t.equal(redactQuery('q=Bearer+abcdefgh12345678'), `q=${R}`);
  t.equal(redactQuery('ref=q8Zr3XkP0vLm7WnT2yBc5Hd9&id=0b9e3c4a-1f2d-4e5f-8a9b-0c1d2e3f4a5b'), `ref=${R}&id=0b9e3c4a-1f2d-4e5f-8a9b-0c1d2e3f4a5b`);
  t.equal(redactQuery('k=AKIAIOSFODNN7EXAMPLE&lang=en'), `k=${R}&lang=en`);
  t.equal(redactQuery('bad=%E0%A4%A'), 'bad=%E0%A4%A', 'an undecodable value is judged as it is');
});

t.test('captured headers: a non-secret name with a credential-shaped value is REDACTED', async (t) => {
  t.same(capturedHeaderAttributes(headerPairs([['x-forward-auth-to', 'Bearer abcdefgh12345678'], ['x-request-id', 'r-1']]), ['x-forward-auth-to', 'x-request-id'], 'http.request.header.'),
    { 'http.request.header.x-forward-auth-to': [R], 'http.request.header.x-request-id': ['r-1'] });
});

t.test('PostgreSQL messages: quoted values become ?, quoted names of a kind stay', async (t) => {
  t.equal(redactPgMessage('invalid input syntax for type integer: "s3cr3t"'), 'invalid input syntax for type integer: "?"');
  t.equal(redactPgMessage('relation "missing" does not exist'), 'relation "missing" does not exist');
  t.equal(redactPgMessage('column "email" of relation "users" does not exist'), 'column "email" of relation "users" does not exist');
  t.equal(redactPgMessage('duplicate key value violates unique constraint "users_pkey"'), 'duplicate key value violates unique constraint "users_pkey"');
  t.equal(redactPgMessage("invalid input value for enum mood: 'x'"), "invalid input value for enum mood: '?'");
  t.equal(redactPgMessage('value "abc'), 'value "?"', 'cut inside quotes: redacted to the end');
});
