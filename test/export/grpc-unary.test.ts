// The unary gRPC client the OTLP/gRPC export uses (src/export/grpc-unary.ts), against real servers:
// grpc-js's (the reference implementation for Node) and plain HTTP/2 servers that are not gRPC.
import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { GRPC_STATUS, GrpcCallError, GrpcUnaryClient, grpcTimeout, metadataProblem, statusOfHttp } from '../../src/export/grpc-unary.js';
import { isRetryableExportError } from '../../src/export/sdk-exporter-transport.js';

const METHOD = '/test.Echo/Call';

interface Server { port: number; calls: Array<{ body: Buffer; metadata: Record<string, unknown> }>; close(): Promise<void> }

/** A grpc-js server of METHOD on `port` (0: any) answering as `answer` says (null: OK; 'never': no answer). */
async function grpcServer(answer: (body: Buffer) => grpc.ServiceError | null | 'never' = () => null, port = 0): Promise<Server> {
  const calls: Server['calls'] = [];
  const server = new grpc.Server();
  const identity = (b: Buffer): Buffer => b;
  server.addService({
    Call: { path: METHOD, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  }, {
    Call: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      calls.push({ body: call.request, metadata: call.metadata.getMap() });
      const a = answer(call.request);
      if (a === 'never') return;
      if (a === null) cb(null, Buffer.from([0x0a, 0x00]));
      else cb(a);
    },
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port: bound, calls, close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())).then(() => server.forceShutdown()) };
}

const refusal = (code: number, details: string): grpc.ServiceError => Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });

async function failure(p: Promise<void>): Promise<GrpcCallError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof GrpcCallError) return e;
    throw e;
  }
  throw new Error('the call succeeded');
}

t.test('a call carries the body whole and the metadata; calls share one connection', async (t) => {
  const srv = await grpcServer();
  t.teardown(() => srv.close());
  const client = new GrpcUnaryClient({ origin: `http://127.0.0.1:${srv.port}`, metadata: { 'x-tenant': 'team-a', authorization: 'Bearer abc' } });
  t.teardown(() => client.close());
  // Past HTTP/2's initial 64 KiB flow-control window, and a view into a larger buffer.
  const backing = Buffer.alloc(700_000);
  for (let i = 0; i < backing.length; i++) backing[i] = (i * 31) & 0xff;
  const body = backing.subarray(1000, 601_000);
  await client.call(METHOD, body, 5000);
  await Promise.all([client.call(METHOD, Buffer.from('two'), 5000), client.call(METHOD, Buffer.from('three'), 5000)]);
  t.equal(srv.calls.length, 3);
  t.ok(srv.calls[0]!.body.equals(body), 'the body arrived byte for byte');
  t.same(srv.calls.slice(1).map((c) => c.body.toString()).sort(), ['three', 'two']);
  t.equal(srv.calls[0]!.metadata['x-tenant'], 'team-a', 'metadata');
  t.equal(srv.calls[0]!.metadata.authorization, 'Bearer abc');
});

t.test('a refusal comes back with its status and message; the retryable ones are retryable', async (t) => {
  const answers: Array<grpc.ServiceError> = [refusal(grpc.status.INVALID_ARGUMENT, 'bad span: 100% wrong, ünïcode'), refusal(grpc.status.UNAVAILABLE, 'busy'), refusal(grpc.status.RESOURCE_EXHAUSTED, 'memory limiter')];
  let i = 0;
  const srv = await grpcServer(() => answers[i++] ?? null);
  t.teardown(() => srv.close());
  const client = new GrpcUnaryClient({ origin: `http://127.0.0.1:${srv.port}`, metadata: {} });
  t.teardown(() => client.close());
  const invalid = await failure(client.call(METHOD, Buffer.from('x'), 5000));
  t.equal(invalid.code, grpc.status.INVALID_ARGUMENT);
  t.equal(invalid.details, 'bad span: 100% wrong, ünïcode', 'the message, percent-decoded');
  t.notOk(isRetryableExportError(invalid), 'INVALID_ARGUMENT is not retryable');
  const busy = await failure(client.call(METHOD, Buffer.from('x'), 5000));
  t.equal(busy.code, grpc.status.UNAVAILABLE);
  t.ok(isRetryableExportError(busy));
  const limited = await failure(client.call(METHOD, Buffer.from('x'), 5000));
  t.equal(limited.code, grpc.status.RESOURCE_EXHAUSTED);
  t.ok(isRetryableExportError(limited));
  await client.call(METHOD, Buffer.from('x'), 5000);
  t.equal(srv.calls.length, 4, 'then an answer: the connection went on');
});

t.test('no answer within the timeout: DEADLINE_EXCEEDED, and the deadline travels', async (t) => {
  const srv = await grpcServer(() => 'never');
  t.teardown(() => srv.close());
  const client = new GrpcUnaryClient({ origin: `http://127.0.0.1:${srv.port}`, metadata: {} });
  t.teardown(() => client.close());
  const started = Date.now();
  const late = await failure(client.call(METHOD, Buffer.from('x'), 300));
  t.equal(late.code, GRPC_STATUS.DEADLINE_EXCEEDED);
  t.ok(Date.now() - started < 3000, `given up at the deadline (${Date.now() - started} ms)`);
  t.ok(isRetryableExportError(late));
});

t.test('a server gone and back: the calls meanwhile fail as retryable, the next one reconnects', async (t) => {
  let srv = await grpcServer();
  const port = srv.port;
  t.teardown(() => srv.close());
  const client = new GrpcUnaryClient({ origin: `http://127.0.0.1:${port}`, metadata: {} });
  t.teardown(() => client.close());
  await client.call(METHOD, Buffer.from('before'), 5000);
  await srv.close();
  const down = await failure(client.call(METHOD, Buffer.from('during'), 2000));
  t.ok(isRetryableExportError(down), `retryable while down (${down.message})`);
  srv = await grpcServer(() => null, port);
  await client.call(METHOD, Buffer.from('after'), 5000);
  t.same(srv.calls.map((c) => c.body.toString()), ['after'], 'the new server got the call');
});

t.test('an HTTP/2 server that is not gRPC: its status mapped as gRPC maps it', async (t) => {
  const statuses = [404, 503, 401, 200];
  let i = 0;
  const server = http2.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(statuses[i++] ?? 500, { 'content-type': 'text/plain' });
      res.end('not grpc');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const client = new GrpcUnaryClient({ origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, metadata: {} });
  t.teardown(() => client.close());
  const codes: Array<number | string> = [];
  for (let n = 0; n < statuses.length; n++) codes.push((await failure(client.call(METHOD, Buffer.from('x'), 2000))).code);
  t.same(codes, [GRPC_STATUS.UNIMPLEMENTED, GRPC_STATUS.UNAVAILABLE, GRPC_STATUS.UNAUTHENTICATED, GRPC_STATUS.UNKNOWN],
    '404 → UNIMPLEMENTED, 503 → UNAVAILABLE, 401 → UNAUTHENTICATED, 200 without grpc-status → UNKNOWN');
});

t.test('nothing listening: a retryable failure, not a hang', async (t) => {
  const srv = await grpcServer();
  const port = srv.port;
  await srv.close();
  const client = new GrpcUnaryClient({ origin: `http://127.0.0.1:${port}`, metadata: {} });
  t.teardown(() => client.close());
  const refused = await failure(client.call(METHOD, Buffer.from('x'), 2000));
  t.ok(isRetryableExportError(refused), `retryable (${refused.message})`);
  client.close();
  const closed = await failure(client.call(METHOD, Buffer.from('x'), 2000));
  t.equal(closed.code, GRPC_STATUS.CANCELLED, 'a closed client refuses at once');
});

t.test('metadata names and values gRPC accepts; grpc-timeout values', async (t) => {
  t.equal(metadataProblem('x-tenant', 'team-a'), null);
  t.equal(metadataProblem('authorization', 'Bearer abc'), null);
  t.match(metadataProblem('X-Tenant', 'a'), /lowercase/);
  t.match(metadataProblem('x tenant', 'a'), /lowercase/);
  t.match(metadataProblem('grpc-timeout', '1S'), /reserved/);
  t.match(metadataProblem('te', 'trailers'), /reserved/);
  t.match(metadataProblem('trace-bin', 'a'), /binary/);
  t.match(metadataProblem('x-a', 'line\nbreak'), /printable/);
  t.match(metadataProblem('x-a', 'ünï'), /printable/);
  t.equal(grpcTimeout(10_000), '10000m');
  t.equal(grpcTimeout(0.2), '1m', 'at least a millisecond');
  t.equal(grpcTimeout(2e8), '200000S', 'eight digits at most');
  t.equal(statusOfHttp(429), GRPC_STATUS.UNAVAILABLE);
  t.equal(statusOfHttp(400), GRPC_STATUS.INTERNAL);
  t.equal(statusOfHttp(403), GRPC_STATUS.PERMISSION_DENIED);
});
