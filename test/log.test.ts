// The agent's log never shows a URL's credentials: endpoints with userinfo or secret query
// parameters are logged as they would be exported, in messages, fields and nested fields.
import t from 'tap';
import { Logger } from '../src/log.js';

t.test('URLs in messages and fields lose their passwords and secret parameters', async (t) => {
  for (const json of [false, true]) {
    const lines: string[] = [];
    const log = new Logger('debug', json, { write: (l) => lines.push(l) });
    log.warn('export to https://lantern:hunter2pw@otlp.example.com:4318/v1/traces failed', {
      endpoint: 'http://u:pw-in-field@collector:4317', nested: { urls: ['https://x.example/?api_key=k3yk3y&page=1'] }, n: 3,
    });
    const text = lines.join('');
    for (const secret of ['hunter2pw', 'pw-in-field', 'k3yk3y']) t.notOk(text.includes(secret), `${json ? 'json' : 'text'}: ${secret} not logged`);
    t.match(text, 'https://lantern:REDACTED@otlp.example.com:4318/v1/traces');
    t.match(text, 'page=1');
    if (json) t.equal(JSON.parse(text).n, 3, 'other fields as they were');
  }
});
