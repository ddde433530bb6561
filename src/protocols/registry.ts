// Every protocol the sockets collector can parse, by kernel protocol id.
import { dnsHandler } from './dns/session.js';
import { http1Handler } from './http1/connection.js';
import { http2Handler } from './http2/connection.js';
import { mysqlHandler } from './mysql/connection.js';
import { postgresHandler } from './postgres/session.js';
import { redisHandler } from './redis/connection.js';
import type { ProtocolHandler } from './session.js';

export function protocolHandlers(): ProtocolHandler[] {
  return [
    http1Handler,
    postgresHandler,
    dnsHandler,
    redisHandler,
    http2Handler,
    mysqlHandler,
  ];
}
