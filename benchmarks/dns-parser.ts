// DNS decoding and matching throughput, the session alone (no capture): resolver-style A + AAAA
// lookups answered out of order, as UDP datagrams. Prints a table and replaces this benchmark's
// section of benchmarks/RESULTS.md.
//
//   npx tsc -p tsconfig.json && node dist/benchmarks/dns-parser.js [--runs N]
import { performance } from 'node:perf_hooks';
import type { ConnectionInfo } from '../src/model/connection.js';
import { DnsSession } from '../src/protocols/dns/session.js';
import { type Timed, microSection, perRunLines, runsOption, timedRuns, workloadTable } from './micro-bench.js';
import { RESULTS_PATH, writeResultsSection } from './results-file.js';

const SECTION = '## DNS decoder and matcher (micro-benchmark)';
const COMMAND = 'node dist/benchmarks/dns-parser.js';
const LOOKUPS = 200_000;

/** A query or response for `name` with the given answers (RFC 1035 §4.1, compressed answer names). */
function message(id: number, type: number, response: boolean, answers: number[][]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(response ? 0x8180 : 0x0100, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const qname = Buffer.from('\x03api\x07service\x09namespace\x03svc\x07cluster\x05local\x00', 'latin1');
  const rrs = answers.map((data) => {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(30, 6);
    rr.writeUInt16BE(data.length, 10);
    return Buffer.concat([rr, Buffer.from(data)]);
  });
  return Buffer.concat([header, qname, Buffer.from([0, type, 0, 1]), ...rrs]);
}

const CONNECTION: ConnectionInfo = { pid: 1, fd: 3, generation: 1, role: 'client', family: 'ipv4', transport: 'udp',
  local: { address: '10.0.0.5', port: 41234 }, remote: { address: '10.96.0.10', port: 53 } };

function runOnce(): Timed {
  const session = new DnsSession(CONNECTION);
  const msgs: Buffer[] = [];
  for (let id = 0; id < 256; id++) {
    msgs.push(message(id * 2, 1, false, []), message(id * 2 + 1, 28, false, []),
      message(id * 2 + 1, 28, true, [[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, id]]),
      message(id * 2, 1, true, [[10, 0, 1, id], [10, 0, 2, id]]));
  }
  let bytes = 0;
  let exchanges = 0;
  const started = performance.now();
  for (let i = 0; i < LOOKUPS / 256; i++) {
    for (let j = 0; j < msgs.length; j += 4) {
      session.data('request', msgs[j]!, 1n);
      session.data('request', msgs[j + 1]!, 2n);
      session.data('response', msgs[j + 2]!, 3n);
      session.data('response', msgs[j + 3]!, 4n);
      bytes += msgs[j]!.length + msgs[j + 1]!.length + msgs[j + 2]!.length + msgs[j + 3]!.length;
    }
    exchanges += session.drain().length;
  }
  return { ms: performance.now() - started, bytes, exchanges };
}

function main(): void {
  const runs = runsOption();
  const name = 'A + AAAA lookups, answers out of order (UDP)';
  const results = timedRuns(name, runs, runOnce, runOnce);
  // Every exchange is one query and one answer datagram of the same sizes in every run.
  const rows = [{ name, bytesPerExchange: results[0]!.bytes / results[0]!.exchanges, callsPerExchange: '2', runs: results }];
  const table = workloadTable(rows, 'Datagrams per exchange');
  console.log(table);
  const description = [`DnsSession alone: each lookup is an A and an AAAA query and their answers (2 A / 1 AAAA records), ${LOOKUPS.toLocaleString('en-US')} lookups per run.`];
  writeResultsSection(SECTION, microSection({ section: SECTION, command: COMMAND, description, table, runs, perRun: perRunLines(rows) }));
  console.error(`wrote ${RESULTS_PATH}`);
}

main();
