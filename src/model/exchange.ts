// Every protocol's finished request/response pairs. Protocols add their own variant here.
import type { DnsExchange } from './dns.js';
import type { HttpExchange } from './http.js';
import type { MysqlExchange } from './mysql.js';
import type { PostgresExchange } from './postgres.js';
import type { RedisExchange } from './redis.js';
import type { Http2Exchange } from './http2.js';

export type Exchange =
  | HttpExchange
  | PostgresExchange
  | MysqlExchange
  | Http2Exchange
  | DnsExchange
  | RedisExchange;
