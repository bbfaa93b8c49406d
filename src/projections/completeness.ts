import type { Knex } from 'knex';
import type { LogPosition } from '../domain/event.js';
import { WHEN_CHECKPOINT_MOVED, type Statement } from './projection.js';

// Each projection counts the events it consumed per bucket of the log, in the statement that
// moves its checkpoint; comparing those counts with the log tells "caught up but missing N
// events" (or "N applied twice") from a projection that really is complete.

export const COUNTS_TABLE = 'projection_event_counts';
/** What the last check found, per projection (operations/completeness.ts). */
export const COMPLETENESS_TABLE = 'projection_completeness';

/**
 * A bucket is a range of this many global positions. The log is ordered by (tx, pos) but
 * buckets go by `pos` alone: a late-committing event lands in the bucket of its sequence number,
 * near the head at the time, whatever its transaction.
 */
export const BUCKET_SIZE = 10_000;

/** Events per bucket: bucket number → count. */
export type BucketCounts = Map<number, number>;

export const bucketOf = (position: LogPosition) => Number(position.pos / BigInt(BUCKET_SIZE));

/** Adds each event to the count of its bucket. */
export const countEvents = (events: readonly { position: LogPosition }[], into: BucketCounts = new Map()): BucketCounts => {
  for (const { position } of events) {
    const bucket = bucketOf(position);
    into.set(bucket, (into.get(bucket) ?? 0) + 1);
  }
  return into;
};

/** The part of a batch's statement that adds its counts, written only when the checkpoint moved. */
export const countsStatement = (projection: string, counts: BucketCounts): Statement => ({
  sql: `INSERT INTO ?? AS c (projection, bucket, events)
    SELECT ?, b.bucket, b.events FROM json_to_recordset(?::json) AS b(bucket bigint, events bigint) WHERE ${WHEN_CHECKPOINT_MOVED}
    ON CONFLICT (projection, bucket) DO UPDATE SET events = c.events + excluded.events`,
  bindings: [COUNTS_TABLE, projection, JSON.stringify([...counts].map(([bucket, events]) => ({ bucket, events })))],
});

/** Contiguous runs of buckets, [from, to] inclusive. */
export type BucketRange = Readonly<{ from: number; to: number }>;

/** The counts a projection stored, in the given bucket ranges (all of them without). */
export const readConsumedCounts = async (knex: Knex, projection: string, ranges?: readonly BucketRange[]): Promise<BucketCounts> => {
  if (ranges && ranges.length === 0) return new Map();
  const query = knex(COUNTS_TABLE).where({ projection }).select<{ bucket: string; events: string }[]>('bucket', 'events');
  if (ranges) query.andWhere((q) => ranges.forEach((r) => q.orWhereBetween('bucket', [r.from, r.to])));
  return new Map((await query).map((row) => [Number(row.bucket), Number(row.events)]));
};

export type BucketDifference = Readonly<{ bucket: number; positions: string; logged: number; consumed: number }>;

export type CountComparison = Readonly<{
  /** Events of the log below the checkpoint that the projection did not consume. */
  missing: number;
  /** Events consumed more often than the log holds them. */
  doubled: number;
  buckets: readonly BucketDifference[];
}>;

export const bucketPositions = (bucket: number) => `${bucket * BUCKET_SIZE}–${(bucket + 1) * BUCKET_SIZE - 1}`;

/** Compares consumed with logged counts, bucket by bucket. */
export const compareCounts = (consumed: BucketCounts, logged: BucketCounts): CountComparison => {
  const buckets: BucketDifference[] = [];
  let missing = 0;
  let doubled = 0;
  for (const bucket of [...new Set([...consumed.keys(), ...logged.keys()])].sort((a, b) => a - b)) {
    const have = consumed.get(bucket) ?? 0;
    const want = logged.get(bucket) ?? 0;
    if (have === want) continue;
    if (have < want) missing += want - have;
    else doubled += have - want;
    buckets.push({ bucket, positions: bucketPositions(bucket), logged: want, consumed: have });
  }
  return { missing, doubled, buckets };
};
