// Feeds conversations to a MysqlConnection the way the tracker does: each syscall's bytes per side,
// in time order, optionally cut into several data() calls.
import type { ConnectionInfo } from '../../../src/model/connection.js';
import type { MysqlExchange } from '../../../src/model/mysql.js';
import { MysqlConnection, type MysqlConnectionOptions } from '../../../src/protocols/mysql/connection.js';
import type { Conversation, WireEvent } from './builder.js';

export const CLIENT_CONN: ConnectionInfo = {
  pid: 100, fd: 7, generation: 1, role: 'client', family: 'ipv4', transport: 'tcp',
  local: { address: '127.0.0.1', port: 50000 }, remote: { address: '127.0.0.1', port: 3306 },
};

export const SERVER_CONN: ConnectionInfo = {
  pid: 200, fd: 9, generation: 1, role: 'server', family: 'ipv4', transport: 'tcp',
  local: { address: '127.0.0.1', port: 3306 }, remote: { address: '127.0.0.1', port: 50000 },
};

export interface PlayOptions extends MysqlConnectionOptions {
  /** Cuts each event's bytes: returns the cut offsets for event i. */
  cuts?: (i: number, e: WireEvent) => number[];
  connection?: ConnectionInfo;
  close?: boolean;
}

export function play(conv: Conversation | WireEvent[], o: PlayOptions = {}): { exchanges: MysqlExchange[]; conn: MysqlConnection } {
  const conn = new MysqlConnection(o.connection ?? CLIENT_CONN, o);
  const events = Array.isArray(conv) ? conv : conv.events;
  const exchanges: MysqlExchange[] = [];
  events.forEach((e, i) => {
    if (e.gap !== undefined) {
      conn.gap(e.side, e.gap, e.timeNs);
      exchanges.push(...conn.drain());
      return;
    }
    const cuts = (o.cuts?.(i, e) ?? []).filter((c) => c > 0 && c < e.bytes.length).sort((a, b) => a - b);
    let from = 0;
    for (const c of [...cuts, e.bytes.length]) {
      if (c > from) conn.data(e.side, e.bytes.subarray(from, c), e.timeNs);
      from = c;
    }
    exchanges.push(...conn.drain());
  });
  if (o.close !== false) {
    conn.close((events[events.length - 1]?.timeNs ?? 0n) + 1000n);
    exchanges.push(...conn.drain());
  }
  return { exchanges, conn };
}

/** The parts of an exchange that do not depend on how bytes were cut (times excluded). */
export function essence(ex: MysqlExchange): Record<string, unknown> {
  const { connection: _c, startNs: _s, endNs: _e, ...rest } = ex;
  return rest;
}
