// The sockets collector's pressure towards the JS thread (ringPressure in
// src/collectors/sockets/collector.ts): bytes waiting against what the waiting batches can hold,
// full when records were lost, or when every slot is taken by batches that hold a good part of it.
import t from 'tap';
import { ringPressure } from '../../src/collectors/sockets/collector.js';

const MiB = 1 << 20;

t.test('bytes waiting against what 16 batches of 1 MiB hold', async (t) => {
  t.equal(ringPressure(0, 200_000, false), 0, 'nothing waiting');
  t.equal(ringPressure(4, 2 * MiB, false), 0.5, 'four batches of 2 MiB: half');
  t.equal(ringPressure(8, MiB, false), 0.5);
  t.equal(ringPressure(20, MiB, false), 1, 'never past full');
});

t.test('records lost since the last batch: full, whatever waits', async (t) => {
  t.equal(ringPressure(0, 100, true), 1);
});

t.test('every slot taken: full when the batches waiting are large, a short stall when they are small', async (t) => {
  // wrk's load: batches of ~0.3-1 MiB; 15 waiting hold a quarter of the capacity or more.
  t.equal(ringPressure(15, 300_000, false), 1, '15 batches of 300 KB: full');
  t.equal(ringPressure(16, MiB, false), 1);
  // 300 req/s beside busy processes: the JS thread starved ~160 ms, 15 batches of a few records.
  t.ok(ringPressure(15, 1_000, false) < 0.01, '15 batches of 1 KB: a stall, no backlog');
  // 50k req/s at a load's onset: 15 batches of ~175 KB, 16 % of the capacity; the held-back batch then fills.
  const onset = ringPressure(15, 175_000, false);
  t.ok(onset > 0.15 && onset < 0.17, `15 batches of 175 KB: ${onset.toFixed(3)}`);
  t.equal(ringPressure(14, MiB, false), 14 / 16, 'one slot free: by bytes, as always');
});
