// Which names are secrets, and how query strings, URLs and header lines lose their values.
import t from 'tap';
import { REDACTED as R, isSecretName, nameWords, redactHeaderLine, redactQuery, redactUrls, redaction } from '../../src/semconv/redaction.js';

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
