// Command lines leave as process.command_args, and they often carry secrets: those stay on the host.
// What is replaced by REDACTED, argument by argument (the list keeps its length):
// - the value of a flag whose name is a secret's (redaction.ts: --password=x, --api-key x,
//   -token=x, -Dspring.datasource.password=x), unless the flag is a switch (--no-password,
//   --ask-password) or names a file (--password-file);
// - KEY=value arguments whose key is a secret's (DB_PASSWORD=x, AWS_SECRET_ACCESS_KEY=x,
//   `docker run -e API_TOKEN=x`, `--env=TOKEN=x`);
// - the value of a sensitive header given to -H/--header/--proxy-header, as the next argument or
//   joined (`curl -H 'Authorization: Bearer x'`, `-HCookie: a=b`, `wget --header=X-Api-Key: x`),
//   and httpie's `Name:value` items (`http example.org Authorization:x`, `token==x`);
// - passwords of clients that take them in short flags: mysql/mariadb `-pPW` (a bare -p prompts,
//   so the next argument is not one), redis-cli `-a PW`, sshpass `-p PW`, mongo `-p PW`; curl's
//   `-u user:PW` (and --user, -U, --proxy-user);
// - in every URL of every argument, the userinfo's password, an http(s) user name alone (a token
//   there), and secret query parameters (the same rule and configured names as url.query);
// - an argument or a flag's value shaped like a secret, whatever its flag (redaction.ts
//   looksLikeSecret: a JWT, "Bearer …", an AWS/GitHub/Slack/Stripe key, a long mixed token);
// - the quoted literals of SQL given to a database client (`psql -c "… PASSWORD 'x'"`, `mysql -e`,
//   `sqlite3 db "…"` is not covered): '?' as in database spans' statements.
// Everything else is left exactly as it was. Pure: no I/O.
import {
  DEFAULT_REDACTION, REDACTED, type Redaction, isSecretName, looksLikeSecret, nameWords, redactHeaderLine, redactQuoted, redactUrls,
} from '../semconv/redaction.js';

/** Short flags that take a password in common clients; `next`: the value may be the next argument. */
const PASSWORD_SHORT_FLAGS: Record<string, { flag: string; next: boolean }> = {
  'redis-cli': { flag: '-a', next: true }, 'redis-benchmark': { flag: '-a', next: true }, 'valkey-cli': { flag: '-a', next: true },
  'keydb-cli': { flag: '-a', next: true }, sshpass: { flag: '-p', next: true }, mongo: { flag: '-p', next: true }, mongosh: { flag: '-p', next: true },
  // mysql's -p takes its value attached only: a bare -p prompts.
  mysql: { flag: '-p', next: false }, mariadb: { flag: '-p', next: false }, mysqldump: { flag: '-p', next: false },
  'mariadb-dump': { flag: '-p', next: false }, mysqladmin: { flag: '-p', next: false }, 'mariadb-admin': { flag: '-p', next: false },
};
const CURL_USER_FLAGS = new Set(['-u', '--user', '-U', '--proxy-user']);
/** Flags of database clients whose value is SQL: its quoted literals become '?'. */
const SQL_FLAGS: Record<string, ReadonlySet<string>> = {
  psql: new Set(['-c', '--command']),
  mysql: new Set(['-e', '--execute']), mariadb: new Set(['-e', '--execute']),
};
const HEADER_FLAGS = new Set(['-H', '--header', '--proxy-header']);
/** httpie and xh: `Name:value` items are headers, `name==value` query parameters. */
const HTTPIE = new Set(['http', 'https', 'xh', 'xhs']);
/** Flags whose first word makes them a switch, not a flag taking the secret. */
const SWITCH_FIRST_WORDS = new Set(['no', 'ask']);

/** What the argument after a flag is. */
type Next = 'secret' | 'header' | 'userpass' | 'sql' | null;

export function redactArgs(args: readonly string[], rules: Redaction = DEFAULT_REDACTION): string[] {
  const program = (args[0] ?? '').split('/').pop() ?? '';
  const ctx: Context = { short: PASSWORD_SHORT_FLAGS[program], curl: program === 'curl', httpie: HTTPIE.has(program), sql: SQL_FLAGS[program], rules };
  const out: string[] = [];
  let next: Next = null;
  for (const [i, arg] of args.entries()) {
    if (i === 0) {
      out.push(arg);
      continue;
    }
    const expected = next;
    next = null;
    if (expected === 'secret') {
      out.push(REDACTED);
      continue;
    }
    if (expected === 'sql') {
      out.push(redactQuoted(arg));
      continue;
    }
    if (expected === 'header' || expected === 'userpass') {
      const redacted = expected === 'header' ? redactHeaderLine(arg, rules) : userPass(arg);
      // Not a header (or no password) after all: the argument is read as any other.
      if (redacted !== arg) {
        out.push(redactUrls(redacted, rules));
        continue;
      }
    }
    const [text, then] = redactArg(arg, ctx);
    out.push(text);
    next = then;
  }
  return out;
}

interface Context {
  short: { flag: string; next: boolean } | undefined;
  curl: boolean;
  httpie: boolean;
  sql: ReadonlySet<string> | undefined;
  rules: Redaction;
}

function redactArg(arg: string, ctx: Context): [string, Next] {
  const { short, rules } = ctx;
  if (short !== undefined && arg.startsWith(short.flag) && !arg.startsWith('--')) {
    return arg === short.flag ? [arg, short.next ? 'secret' : null] : [`${short.flag}${REDACTED}`, null];
  }
  if (HEADER_FLAGS.has(arg)) return [arg, 'header'];
  if (ctx.sql !== undefined) {
    if (ctx.sql.has(arg)) return [arg, 'sql'];
    const joined = /^(--[a-z]+=|-[a-z])(.+)$/s.exec(arg);
    if (joined !== null && ctx.sql.has(joined[1]!.replace(/=$/, ''))) return [`${joined[1]!}${redactQuoted(joined[2]!)}`, null];
  }
  if (arg.startsWith('-H') && arg.length > 2) return [`-H${redactUrls(redactHeaderLine(arg.slice(2), rules), rules)}`, null];
  if (ctx.curl) {
    if (CURL_USER_FLAGS.has(arg)) return [arg, 'userpass'];
    const user = /^(-[uU]|--user=|--proxy-user=)(.+)$/s.exec(arg);
    if (user !== null) return [`${user[1]!}${userPass(user[2]!)}`, null];
  }
  const flag = /^(--?([A-Za-z0-9][A-Za-z0-9_.-]*))(?:=(.*))?$/s.exec(arg);
  if (flag !== null) {
    const [, whole = '', name = '', value] = flag;
    if (HEADER_FLAGS.has(whole) && value !== undefined) return [`${whole}=${redactUrls(redactHeaderLine(value, rules), rules)}`, null];
    if (!isSecretName(name)) return [value === undefined ? arg : `${whole}=${redactText(value, rules)}`, null];
    if (value !== undefined) return [`${whole}=${REDACTED}`, null];
    return [arg, SWITCH_FIRST_WORDS.has(nameWords(name)[0] ?? '') ? null : 'secret'];
  }
  if (ctx.httpie) {
    const query = /^([^=:\s]+)==(.*)$/s.exec(arg);
    if (query !== null) return [rules.queryParam(query[1]!) ? `${query[1]!}==${REDACTED}` : arg, null];
    const header = redactHeaderLine(arg, rules);
    if (header !== arg) return [header, null];
  }
  return [redactText(arg, rules), null];
}

/** A free argument or a flag's value: KEY=value with a secret key, a header setting, URLs. */
function redactText(text: string, rules: Redaction): string {
  if (looksLikeSecret(text)) return REDACTED;
  const kv = /^([A-Za-z_][A-Za-z0-9_.-]*)=(.*)$/s.exec(text);
  if (kv !== null) {
    const [, key = '', value = ''] = kv;
    if (isSecretName(key)) return `${key}=${REDACTED}`;
    // git -c http.extraHeader='Authorization: Bearer x'
    if (nameWords(key).includes('header')) return `${key}=${redactUrls(redactHeaderLine(value, rules), rules)}`;
    return `${key}=${redactText(value, rules)}`;
  }
  return redactUrls(text, rules);
}

/** curl's `user:password` → `user:REDACTED`; a user alone (curl then asks) stays. */
function userPass(value: string): string {
  const colon = value.indexOf(':');
  return colon < 0 ? value : `${value.slice(0, colon)}:${REDACTED}`;
}
