// Builds PostgreSQL protocol 3.0 messages for tests, one fluent call per message, following
// https://www.postgresql.org/docs/current/protocol-message-formats.html (every message but the
// startup-phase ones is Byte1 type, Int32 length counting itself, body).

function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

function cstr(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.of(0)]);
}

export class PgBuilder {
  readonly parts: Buffer[] = [];

  /** Byte1 type, Int32 length (4 + body), body. */
  typed(type: string, ...body: Buffer[]): this {
    const b = Buffer.concat(body);
    this.parts.push(Buffer.concat([Buffer.from(type, 'latin1'), int32(4 + b.length), b]));
    return this;
  }

  /** Int32 length (4 + body), body: the startup-phase packets have no type byte. */
  untyped(...body: Buffer[]): this {
    const b = Buffer.concat(body);
    this.parts.push(Buffer.concat([int32(4 + b.length), b]));
    return this;
  }

  raw(b: Uint8Array | string): this {
    this.parts.push(typeof b === 'string' ? Buffer.from(b, 'latin1') : Buffer.from(b));
    return this;
  }

  // --- frontend -------------------------------------------------------------------------------------

  /** StartupMessage: Int32 196608 (protocol 3.0), name/value pairs, a final zero byte. */
  startup(params: Record<string, string>): this {
    return this.untyped(int32(196608), ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.of(0));
  }

  /** SSLRequest: Int32 8, Int32 80877103. */
  sslRequest(): this {
    return this.untyped(int32(80877103));
  }

  gssencRequest(): this {
    return this.untyped(int32(80877104));
  }

  /** CancelRequest: Int32 16, Int32 80877102, Int32 process id, Int32 secret key. */
  cancelRequest(pid: number, key: number): this {
    return this.untyped(int32(80877102), int32(pid), int32(key));
  }

  /** PasswordMessage ('p'): String password (cleartext, or md5 hash). */
  password(pw: string): this {
    return this.typed('p', cstr(pw));
  }

  /** SASLInitialResponse ('p'): String mechanism, Int32 length, Byte(n) client-first-message. */
  saslInitial(mechanism: string, data: string): this {
    return this.typed('p', cstr(mechanism), int32(Buffer.byteLength(data)), Buffer.from(data));
  }

  /** SASLResponse ('p'): Byte(n) client-final-message. */
  saslResponse(data: string): this {
    return this.typed('p', Buffer.from(data));
  }

  query(text: string): this {
    return this.typed('Q', cstr(text));
  }

  /** Parse: String statement, String query, Int16 n, Int32[n] parameter type oids. */
  parse(name: string, text: string, types: number[] = []): this {
    return this.typed('P', cstr(name), cstr(text), int16(types.length), ...types.map(int32));
  }

  /**
   * Bind: String portal, String statement, Int16 n format codes (0 = all text), Int16 n values,
   * (Int32 length or -1 for NULL, Byte(n))*, Int16 n result format codes.
   */
  bind(portal: string, statement: string, values: Array<string | null>): this {
    const vals = values.flatMap((v) => (v === null ? [int32(-1)] : [int32(Buffer.byteLength(v)), Buffer.from(v)]));
    return this.typed('B', cstr(portal), cstr(statement), int16(0), int16(values.length), ...vals, int16(0));
  }

  /** Describe: Byte1 'S' (statement) or 'P' (portal), String name. */
  describe(target: 'S' | 'P', name: string): this {
    return this.typed('D', Buffer.from(target), cstr(name));
  }

  /** Execute: String portal, Int32 max rows (0 = all). */
  execute(portal = '', maxRows = 0): this {
    return this.typed('E', cstr(portal), int32(maxRows));
  }

  close(target: 'S' | 'P', name: string): this {
    return this.typed('C', Buffer.from(target), cstr(name));
  }

  sync(): this {
    return this.typed('S');
  }

  flush(): this {
    return this.typed('H');
  }

  terminate(): this {
    return this.typed('X');
  }

  copyData(data: string | Buffer): this {
    return this.typed('d', Buffer.from(data));
  }

  copyDone(): this {
    return this.typed('c');
  }

  copyFail(message: string): this {
    return this.typed('f', cstr(message));
  }

  // --- backend --------------------------------------------------------------------------------------

  /** The one-byte answer to SSLRequest/GSSENCRequest: 'S' (go ahead), 'N' (no), 'G' (GSS go ahead). */
  encryptionAnswer(answer: 'S' | 'N' | 'G'): this {
    return this.raw(answer);
  }

  /** AuthenticationOk: Int32 0. */
  authOk(): this {
    return this.typed('R', int32(0));
  }

  authCleartext(): this {
    return this.typed('R', int32(3));
  }

  /** AuthenticationMD5Password: Int32 5, Byte4 salt. */
  authMd5(salt = Buffer.of(1, 2, 3, 4)): this {
    return this.typed('R', int32(5), salt);
  }

  /** AuthenticationSASL: Int32 10, mechanism names, a final zero byte. */
  authSasl(mechanisms = ['SCRAM-SHA-256']): this {
    return this.typed('R', int32(10), ...mechanisms.map(cstr), Buffer.of(0));
  }

  authSaslContinue(data: string): this {
    return this.typed('R', int32(11), Buffer.from(data));
  }

  authSaslFinal(data: string): this {
    return this.typed('R', int32(12), Buffer.from(data));
  }

  parameterStatus(name: string, value: string): this {
    return this.typed('S', cstr(name), cstr(value));
  }

  backendKeyData(pid: number, key: number): this {
    return this.typed('K', int32(pid), int32(key));
  }

  ready(status: 'I' | 'T' | 'E' = 'I'): this {
    return this.typed('Z', Buffer.from(status));
  }

  /** RowDescription: Int16 n fields, each String name, Int32 table oid, Int16 column, Int32 type
   * oid, Int16 size, Int32 modifier, Int16 format. */
  rowDescription(columns: string[]): this {
    return this.typed('T', int16(columns.length),
      ...columns.flatMap((c) => [cstr(c), int32(0), int16(0), int32(25), int16(-1), int32(-1), int16(0)]));
  }

  /** DataRow: Int16 n columns, each Int32 length (-1 NULL) and Byte(n). */
  dataRow(values: Array<string | null>): this {
    return this.typed('D', int16(values.length), ...values.flatMap((v) => (v === null ? [int32(-1)] : [int32(Buffer.byteLength(v)), Buffer.from(v)])));
  }

  commandComplete(tag: string): this {
    return this.typed('C', cstr(tag));
  }

  /** ErrorResponse: (Byte1 field, String value)*, zero byte. Fields S, V, C, M, D... */
  error(fields: Record<string, string>): this {
    return this.typed('E', ...Object.entries(fields).flatMap(([k, v]) => [Buffer.from(k), cstr(v)]), Buffer.of(0));
  }

  notice(fields: Record<string, string>): this {
    return this.typed('N', ...Object.entries(fields).flatMap(([k, v]) => [Buffer.from(k), cstr(v)]), Buffer.of(0));
  }

  parseComplete(): this {
    return this.typed('1');
  }

  bindComplete(): this {
    return this.typed('2');
  }

  closeComplete(): this {
    return this.typed('3');
  }

  noData(): this {
    return this.typed('n');
  }

  portalSuspended(): this {
    return this.typed('s');
  }

  emptyQuery(): this {
    return this.typed('I');
  }

  parameterDescription(oids: number[]): this {
    return this.typed('t', int16(oids.length), ...oids.map(int32));
  }

  /** CopyInResponse / CopyOutResponse: Int8 format, Int16 n columns, Int16[n] formats. */
  copyInResponse(columns: number): this {
    return this.typed('G', Buffer.of(0), int16(columns), ...Array.from({ length: columns }, () => int16(0)));
  }

  copyOutResponse(columns: number): this {
    return this.typed('H', Buffer.of(0), int16(columns), ...Array.from({ length: columns }, () => int16(0)));
  }

  notification(pid: number, channel: string, payload: string): this {
    return this.typed('A', int32(pid), cstr(channel), cstr(payload));
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }

  /** Each message as its own buffer (one per syscall, say). */
  messages(): Buffer[] {
    return [...this.parts];
  }
}

export const fe = (): PgBuilder => new PgBuilder();
export const be = (): PgBuilder => new PgBuilder();

/** The server's usual answer to a StartupMessage once authentication succeeded. */
export function startupAnswer(b: PgBuilder = be()): PgBuilder {
  return b.authOk().parameterStatus('server_version', '15.14').parameterStatus('client_encoding', 'UTF8').backendKeyData(4242, 987654).ready('I');
}

/** Seeded PRNG (mulberry32): the same sequence for a seed on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
