// The server's answer to one command, packet by packet, until it is complete. What a response looks
// like depends on the command (constants.ts ResponseShape) and on the capabilities the client chose
// (CLIENT_DEPRECATE_EOF drops the EOF after column definitions; CLIENT_SESSION_TRACK adds session
// state to OK packets). Rows are counted, never decoded.
//
//   result set ("Text Resultset", "Binary Protocol Resultset"):
//     column count [+ metadata-follows byte] → column definitions → [EOF] → rows → EOF or OK(0xFE)
//     repeated while the terminator's status says SERVER_MORE_RESULTS_EXISTS.
//   COM_STMT_PREPARE: PREPARE_OK → parameter definitions [EOF] → column definitions [EOF].
//
// Sequence ids must follow one another (the response to a command starts at 1, since the command is
// 0), except where the client speaks in between (authentication, LOCAL INFILE): a break is malformed.
import {
  AUTH_MORE_DATA_HEADER,
  CLIENT_DEPRECATE_EOF,
  EOF_HEADER,
  ERR_HEADER,
  LOCAL_INFILE_HEADER,
  OK_HEADER,
  PROGRESS_REPORT_CODE,
  type ResponseShape,
  SERVER_MORE_RESULTS_EXISTS,
  SERVER_STATUS_CURSOR_EXISTS,
} from './constants.js';
import type { MysqlPacket } from './framer.js';
import {
  MALFORMED,
  type ErrPacket,
  type OkPacket,
  type PrepareOk,
  isColumnDefinition,
  isEofPacket,
  isResultSetEnd,
  parseColumnCount,
  parseErr,
  parseOk,
  parsePrepareOk,
} from './messages.js';

export type Step = 'more' | 'done' | 'malformed';

export interface ResponseSummary {
  outcome: 'ok' | 'error';
  error?: ErrPacket;
  /** Rows of every result set (text or binary). */
  rows: number;
  resultSets: number;
  /** Sum over the OK packets (several with multi-statements or CALL). */
  affectedRows: number;
  warnings: number;
  /** The default database the server reported (session tracking). */
  schema?: string;
  prepared?: PrepareOk;
  /** Packets read (progress reports included). */
  packets: number;
}

/** Why a response was found malformed, for counters and tests. */
export type ResponseProblem =
  | 'sequence'
  | 'unexpected-first-byte'
  | 'bad-ok'
  | 'bad-err'
  | 'bad-column-count'
  | 'bad-column-definition'
  | 'expected-eof'
  | 'bad-binary-row'
  | 'bad-prepare-ok';

// States.
const FIRST = 0; // nothing read yet
const RS_HEAD = 1; // the start of a result: OK, ERR, LOCAL INFILE or a column count
const RS_COLUMNS = 2;
const RS_META_EOF = 3;
const RS_ROWS = 4;
const INFILE = 5; // LOCAL INFILE: the client sends the file, then the server answers OK or ERR
const PREP_PARAMS = 6;
const PREP_PARAMS_EOF = 7;
const PREP_COLUMNS = 8;
const PREP_COLUMNS_EOF = 9;
const FIELDS = 10;
const AUTH = 11;
const STATUS = 12; // one OK, ERR or EOF (after any progress reports)
const TEXT = 13; // one packet of text
const PREP_OK = 14; // COM_STMT_PREPARE_OK or ERR
const DONE = 15;

const INITIAL: Record<ResponseShape, number> = {
  none: DONE,
  status: STATUS,
  resultset: RS_HEAD,
  rows: RS_ROWS,
  prepare: PREP_OK,
  fields: FIELDS,
  text: TEXT,
  auth: AUTH,
  stream: DONE,
};

export class ResponseParser {
  private state = FIRST;
  private lastSeq = 0;
  /** Definitions still expected in RS_COLUMNS / PREP_PARAMS / PREP_COLUMNS. */
  private defsLeft = 0;
  private readonly deprecateEof: boolean;
  readonly summary: ResponseSummary = { outcome: 'ok', rows: 0, resultSets: 0, affectedRows: 0, warnings: 0, packets: 0 };
  problem: ResponseProblem | null = null;
  endNs = 0n;

  constructor(
    private readonly shape: ResponseShape,
    private readonly caps: number,
    /** COM_STMT_EXECUTE and COM_STMT_FETCH answer with binary rows (first byte 0x00). */
    private readonly binaryRows = false,
  ) {
    this.deprecateEof = (caps & CLIENT_DEPRECATE_EOF) !== 0;
  }

  get done(): boolean {
    return this.state === DONE;
  }

  /** Has any packet of this response been read? */
  get started(): boolean {
    return this.state !== FIRST;
  }

  feed(p: MysqlPacket): Step {
    if (this.state === DONE) return 'done';
    const loose = this.state === AUTH || this.state === INFILE;
    const expected = this.state === FIRST ? 1 : (this.lastSeq + 1) & 0xff;
    if (!loose && p.seq !== expected) return this.bad('sequence');
    this.lastSeq = p.lastSeq;
    this.endNs = p.endNs;
    this.summary.packets++;
    if (this.state === FIRST) {
      this.state = INITIAL[this.shape];
      if (this.state === DONE) return this.bad('unexpected-first-byte'); // no response was due
    }
    const first = p.length === 0 ? -1 : (p.head[0] ?? -1);
    switch (this.state) {
      case STATUS:
        if (first === ERR_HEADER) return this.err(p);
        if (first === OK_HEADER || first === EOF_HEADER) return this.ok(p) ? this.finish() : this.bad('bad-ok');
        return this.bad('unexpected-first-byte');
      case TEXT:
        return first === ERR_HEADER ? this.err(p) : this.finish();
      case PREP_OK: {
        if (first === ERR_HEADER) return this.err(p);
        const ok = first === OK_HEADER && p.length >= 12 ? parsePrepareOk(p.head) : MALFORMED;
        if (ok === MALFORMED) return this.bad('bad-prepare-ok');
        this.summary.prepared = ok;
        this.summary.warnings += ok.warnings;
        if (!ok.metadataFollows) return this.finish();
        return this.afterPrepareDefs(FIRST);
      }
      case RS_HEAD:
      case INFILE:
        return this.resultHead(p, first);
      case RS_COLUMNS:
        if (!isColumnDefinition(p.head)) return first === ERR_HEADER ? this.err(p) : this.bad('bad-column-definition');
        if (--this.defsLeft === 0) this.state = this.deprecateEof ? RS_ROWS : RS_META_EOF;
        return 'more';
      case RS_META_EOF: {
        if (first === ERR_HEADER) return this.err(p);
        if (!isEofPacket(first, p.length)) return this.bad('expected-eof');
        const eof = parseOk(p.head, this.caps);
        if (eof === MALFORMED) return this.bad('bad-ok');
        // A cursor was opened (COM_STMT_EXECUTE with a cursor type): rows come with COM_STMT_FETCH.
        if ((eof.status & SERVER_STATUS_CURSOR_EXISTS) !== 0) return this.finish();
        this.state = RS_ROWS;
        return 'more';
      }
      case RS_ROWS:
        return this.row(p, first);
      case PREP_PARAMS:
      case PREP_COLUMNS:
        if (!isColumnDefinition(p.head)) return this.bad('bad-column-definition');
        if (--this.defsLeft === 0) {
          if (!this.deprecateEof) this.state = this.state === PREP_PARAMS ? PREP_PARAMS_EOF : PREP_COLUMNS_EOF;
          else return this.afterPrepareDefs(this.state);
        }
        return 'more';
      case PREP_PARAMS_EOF:
      case PREP_COLUMNS_EOF:
        if (!isEofPacket(first, p.length)) return this.bad('expected-eof');
        return this.afterPrepareDefs(this.state === PREP_PARAMS_EOF ? PREP_PARAMS : PREP_COLUMNS);
      case FIELDS:
        if (first === ERR_HEADER) return this.err(p);
        if (isResultSetEnd(first, p.length)) return this.finish();
        if (!isColumnDefinition(p.head)) return this.bad('bad-column-definition');
        return 'more';
      case AUTH:
        return this.auth(p, first);
      default:
        return 'done';
    }
  }

  /** The start of a result (RS_HEAD), or the server's answer after a LOCAL INFILE upload. */
  private resultHead(p: MysqlPacket, first: number): Step {
    if (first === ERR_HEADER) return this.err(p);
    if (first === OK_HEADER) {
      const ok = this.ok(p);
      if (ok === null) return this.bad('bad-ok');
      if ((ok.status & SERVER_MORE_RESULTS_EXISTS) !== 0) {
        this.state = RS_HEAD;
        return 'more';
      }
      return this.finish();
    }
    if (this.state === INFILE) return this.bad('unexpected-first-byte');
    if (first === LOCAL_INFILE_HEADER) {
      this.state = INFILE;
      return 'more';
    }
    const cc = parseColumnCount(p.head);
    if (cc === MALFORMED || !p.complete) return this.bad('bad-column-count');
    this.summary.resultSets++;
    if (cc.metadataFollows) {
      this.defsLeft = cc.count;
      this.state = RS_COLUMNS;
    } else {
      this.state = this.deprecateEof ? RS_ROWS : RS_META_EOF;
    }
    return 'more';
  }

  private row(p: MysqlPacket, first: number): Step {
    if (first === ERR_HEADER) return this.err(p);
    if (isResultSetEnd(first, p.length)) {
      const end = this.ok(p);
      if (end === null) return this.bad('bad-ok');
      if ((end.status & SERVER_MORE_RESULTS_EXISTS) !== 0) {
        this.state = RS_HEAD;
        return 'more';
      }
      return this.finish();
    }
    // A binary row begins with the 0x00 packet header ("Binary Protocol Resultset Row").
    if (this.binaryRows && first !== OK_HEADER) return this.bad('bad-binary-row');
    this.summary.rows++;
    return 'more';
  }

  /** Next after a run of definitions of a PREPARE_OK (`from`: the run just ended, FIRST for none). */
  private afterPrepareDefs(from: number): Step {
    const prepared = this.summary.prepared!;
    if (from === FIRST && prepared.numParams > 0) {
      this.defsLeft = prepared.numParams;
      this.state = PREP_PARAMS;
      return 'more';
    }
    if ((from === FIRST || from === PREP_PARAMS) && prepared.numColumns > 0) {
      this.defsLeft = prepared.numColumns;
      this.state = PREP_COLUMNS;
      return 'more';
    }
    return this.finish();
  }

  private auth(p: MysqlPacket, first: number): Step {
    if (first === OK_HEADER) return this.ok(p) ? this.finish() : this.bad('bad-ok');
    if (first === ERR_HEADER) return this.err(p);
    // AuthSwitchRequest (0xFE) or AuthMoreData (0x01): the client answers, the server goes on.
    if (first === EOF_HEADER || first === AUTH_MORE_DATA_HEADER) return 'more';
    return this.bad('unexpected-first-byte');
  }

  /** Reads an OK (or 0xFE terminator) into the summary; null when malformed. */
  private ok(p: MysqlPacket): OkPacket | null {
    const ok = parseOk(p.head, this.caps);
    if (ok === MALFORMED) return p.complete ? null : { affectedRows: 0, lastInsertId: 0, status: 0, warnings: 0 };
    this.summary.affectedRows += ok.affectedRows;
    this.summary.warnings += ok.warnings;
    if (ok.schema !== undefined) this.summary.schema = ok.schema;
    return ok;
  }

  private err(p: MysqlPacket): Step {
    const err = parseErr(p.head);
    if (err === MALFORMED) return this.bad('bad-err');
    // MariaDB progress report (MARIADB_CLIENT_PROGRESS): the command goes on.
    if (err.code === PROGRESS_REPORT_CODE) return 'more';
    this.summary.outcome = 'error';
    this.summary.error = err;
    return this.finish();
  }

  private finish(): Step {
    this.state = DONE;
    return 'done';
  }

  private bad(problem: ResponseProblem): Step {
    this.problem = problem;
    this.state = DONE;
    return 'malformed';
  }
}
