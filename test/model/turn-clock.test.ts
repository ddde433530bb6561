import t from 'tap';
import { turn, turnNow } from '../../src/model/turn-clock.js';

const busyMs = (ms: number): void => {
  const end = Date.now() + ms;
  while (Date.now() < end);
};

t.test('within a turn the time is the turn\'s start; outside, the clock', async (t) => {
  const before = Date.now();
  const [start, later, inner] = turn(() => {
    const start = turnNow();
    busyMs(5);
    const later = turnNow();
    const inner = turn(() => {
      busyMs(2);
      return turnNow();
    });
    t.equal(turnNow(), start, 'an inner turn ended: the outer one\'s time again');
    return [start, later, inner];
  });
  t.ok(start >= before && start <= Date.now(), 'the time the turn began');
  t.equal(later, start, 'the same all through the turn');
  t.ok(inner >= start + 5, 'an inner turn has its own start');
  busyMs(2);
  t.ok(turnNow() >= start + 7, 'after the turn: the clock again');
});

t.test('a turn that throws leaves no time behind', async (t) => {
  t.throws(() => turn(() => {
    throw new Error('boom');
  }), /boom/);
  const a = turnNow();
  busyMs(2);
  t.ok(turnNow() >= a + 2, 'the clock, not a stale turn');
});
