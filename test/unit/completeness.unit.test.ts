import { describe, expect, it } from 'vitest';
import { isTransientError } from '../../src/infra/transientErrors.js';
import { bucketsToCheck, SWEEP_BUCKETS } from '../../src/operations/completeness.js';
import { compareCounts, countEvents } from '../../src/projections/completeness.js';

const at = (pos: number) => ({ position: { tx: 1n, pos: BigInt(pos) } });

describe('completeness counts', () => {
  it('count events per bucket of 10,000 positions and compare them bucket by bucket', () => {
    const logged = countEvents([at(1), at(9999), at(10_000), at(25_000)]);
    expect([...logged]).toEqual([[0, 2], [1, 1], [2, 1]]);
    expect(compareCounts(new Map([[0, 2], [1, 1], [2, 1]]), logged)).toEqual({ missing: 0, doubled: 0, buckets: [] });
    expect(compareCounts(new Map([[0, 1], [2, 3]]), logged)).toEqual({
      missing: 2,
      doubled: 2,
      buckets: [
        { bucket: 0, positions: '0–9999', logged: 2, consumed: 1 },
        { bucket: 1, positions: '10000–19999', logged: 1, consumed: 0 },
        { bucket: 2, positions: '20000–29999', logged: 1, consumed: 3 },
      ],
    });
  });

  it('a periodic check covers the head since last time, what differed, and the next slice of older buckets, coming round to all', () => {
    expect(bucketsToCheck(7, null, false)).toEqual({ ranges: [{ from: 0, to: 7 }], sweepNext: 0 });
    expect(bucketsToCheck(500, { headBucket: 498, sweepNext: 0, differing: [] }, true)).toEqual({ ranges: [{ from: 0, to: 500 }], sweepNext: 0 });

    const first = bucketsToCheck(500, { headBucket: 498, sweepNext: 0, differing: [300] }, false);
    expect(first).toEqual({ ranges: [{ from: 0, to: SWEEP_BUCKETS - 1 }, { from: 300, to: 300 }, { from: 497, to: 500 }], sweepNext: SWEEP_BUCKETS });

    // Run after run the slices cover every older bucket, then start again.
    const covered = new Set<number>();
    let previous = { headBucket: 500, sweepNext: 0, differing: [] as number[] };
    for (let run = 0; run < 100 && (run === 0 || previous.sweepNext !== 0); run++) {
      const { ranges, sweepNext } = bucketsToCheck(500, previous, false);
      for (const r of ranges) for (let b = r.from; b <= r.to; b++) covered.add(b);
      previous = { ...previous, sweepNext };
    }
    expect(covered.size).toBe(501);
  });
});

describe('transient errors', () => {
  it('tell a dependency that is away from a failure of our own', () => {
    const transient = [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01', severity: 'FATAL' }),
      Object.assign(new Error('could not serialize access'), { code: '40001', severity: 'ERROR' }),
      Object.assign(new Error('canceling statement due to lock timeout'), { code: '55P03', severity: 'ERROR' }),
      Object.assign(new Error('connect ENOENT /tmp/pg/.s.PGSQL.5432'), { code: 'ENOENT', syscall: 'connect' }),
      new Error('Connection terminated unexpectedly'),
      Object.assign(new Error('Knex: Timeout acquiring a connection'), { name: 'KnexTimeoutError' }),
      new Error('Connection is closed.'),
      new AggregateError([Object.assign(new Error('connect ECONNREFUSED ::1:6379'), { code: 'ECONNREFUSED' })]),
      new Error('enqueue failed', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) }),
    ];
    const deterministic = [
      Object.assign(new Error('null value in column "title"'), { code: '23502', severity: 'ERROR' }),
      Object.assign(new Error('no such file'), { code: 'ENOENT', syscall: 'open' }),
      new TypeError("Cannot read properties of undefined (reading 'userId')"),
      'a thrown string',
    ];
    expect(transient.map((e) => isTransientError(e))).toEqual(transient.map(() => true));
    expect(deterministic.map((e) => isTransientError(e))).toEqual(deterministic.map(() => false));
  });
});
