// RESP bytes for tests, as clients and redis-server write them
// (https://github.com/redis/redis-specifications/tree/master/protocol).
import type { ConnectionInfo, ConnectionRole } from '../../../src/model/connection.js';
import type { RedisExchange } from '../../../src/model/redis.js';

/** A command: an array of bulk strings. */
export const cmd = (...args: string[]): string => `*${args.length}\r\n${args.map(bulk).join('')}`;
export const bulk = (s: string): string => `$${Buffer.byteLength(s, 'latin1')}\r\n${s}\r\n`;
export const simple = (s: string): string => `+${s}\r\n`;
export const err = (s: string): string => `-${s}\r\n`;
export const int = (n: number): string => `:${n}\r\n`;
export const NULL2 = '$-1\r\n';
export const NULL3 = '_\r\n';
export const array = (...items: string[]): string => `*${items.length}\r\n${items.join('')}`;
export const push = (...items: string[]): string => `>${items.length}\r\n${items.join('')}`;
export const map = (...pairs: Array<[string, string]>): string => `%${pairs.length}\r\n${pairs.map(([k, v]) => k + v).join('')}`;

/** A pub/sub confirmation or delivery, RESP2 (array) or RESP3 (push). */
export const confirmation = (kind: string, channel: string, count: number, resp3 = false): string =>
  (resp3 ? push : array)(bulk(kind), bulk(channel), int(count));
export const message = (channel: string, payload: string, resp3 = false): string => (resp3 ? push : array)(bulk('message'), bulk(channel), bulk(payload));

export function connection(role: ConnectionRole = 'client'): ConnectionInfo {
  const client = { address: '127.0.0.1', port: 51000 };
  const server = { address: '127.0.0.1', port: 6379 };
  return {
    pid: 100, fd: 7, generation: 1, role, family: 'ipv4', transport: 'tcp',
    local: role === 'server' ? server : client, remote: role === 'server' ? client : server,
  };
}

/** One line per exchange: what a reader of spans would check. */
export function describe(e: RedisExchange): string {
  const r = e.reply;
  const reply = r === null ? `(${e.missing ?? '?'})` : r.type === 'error' || r.type === 'blob-error' ? `${r.type}:${r.errorPrefix ?? '?'}` : r.type;
  const flags = [e.pipelined ? 'pipelined' : '', e.transaction ? 'tx' : '', e.command.inline ? 'inline' : '', e.confirmations !== undefined ? `confirmations=${e.confirmations}` : '']
    .filter(Boolean).join(' ');
  return `#${e.ordinal} ${e.command.name}/${e.command.argumentCount} → ${reply} db=${e.database} resp${e.respVersion}${flags === '' ? '' : ` ${flags}`}`;
}

/** JSON of anything with bigints. */
export const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
