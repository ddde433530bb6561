// Prepared statements of one connection: the id the server gave each COM_STMT_PREPARE, and its
// text, so COM_STMT_EXECUTE (which carries only the id) can be described. Bounded: past the limit
// the least recently used statement is forgotten (its executions are then reported without text).

export interface PreparedStatement {
  query: string;
  /** The text is the beginning of a longer statement. */
  truncated: boolean;
  numParams: number;
  numColumns: number;
}

export class StatementCache {
  private readonly map = new Map<number, PreparedStatement>();
  /** The id of the statement prepared last (MariaDB: COM_STMT_EXECUTE with id 0xffffffff). */
  lastId: number | null = null;
  evicted = 0;

  constructor(private readonly max: number) {}

  add(id: number, s: PreparedStatement): void {
    this.map.delete(id);
    this.map.set(id, s);
    this.lastId = id;
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next().value;
      if (oldest === undefined) break;
      this.map.delete(oldest);
      this.evicted++;
    }
  }

  get(id: number): PreparedStatement | undefined {
    const s = this.map.get(id);
    if (s !== undefined) {
      // Refresh recency: statements executed often stay.
      this.map.delete(id);
      this.map.set(id, s);
    }
    return s;
  }

  delete(id: number): void {
    this.map.delete(id);
    if (this.lastId === id) this.lastId = null;
  }

  /** COM_RESET_CONNECTION and COM_CHANGE_USER deallocate every statement. */
  clear(): void {
    this.map.clear();
    this.lastId = null;
  }

  get size(): number {
    return this.map.size;
  }
}
