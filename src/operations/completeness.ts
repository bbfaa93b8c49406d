import type { Knex } from 'knex';
import { compareLogPositions, positionOf, type LogPosition } from '../domain/event.js';
import type { EventStore } from '../infra/eventstore/eventStore.js';
import type { Logger } from '../infra/logger.js';
import { findCheckpointDetails, formatPosition } from '../projections/checkpoints.js';
import {
  BUCKET_SIZE,
  bucketOf,
  compareCounts,
  COMPLETENESS_TABLE,
  countEvents,
  readConsumedCounts,
  type BucketCounts,
  type BucketDifference,
  type BucketRange,
} from '../projections/completeness.js';
import { PROJECTION_NAMES } from './projections.js';

// The reconciler: compares what each projection says it consumed with the log up to its
// checkpoint, bucket by bucket, and records the finding for status, /health and the metrics.

/** Counts the log's events after `after` up to `upTo`, in the given buckets. */
export type LogCounter = (knex: Knex, range: { after: LogPosition; upTo: LogPosition; buckets: readonly BucketRange[] }) => Promise<BucketCounts>;

/** The events table: a range scan of the primary key per run of buckets. */
export const countLogInPostgres: LogCounter = async (knex, { after, upTo, buckets }) => {
  const counts: BucketCounts = new Map();
  for (const { from, to } of buckets) {
    const { rows } = await knex.raw<{ rows: { bucket: string; events: number }[] }>(
      `SELECT global_position / ? AS bucket, count(*)::int AS events FROM events
       WHERE global_position BETWEEN ? AND ?
         AND (transaction_id, global_position) > (?::text::xid8, ?::bigint)
         AND (transaction_id, global_position) <= (?::text::xid8, ?::bigint)
       GROUP BY 1`,
      [BUCKET_SIZE, from * BUCKET_SIZE, (to + 1) * BUCKET_SIZE - 1, after.tx.toString(), after.pos.toString(), upTo.tx.toString(), upTo.pos.toString()],
    );
    for (const row of rows) counts.set(Number(row.bucket), row.events);
  }
  return counts;
};

/** Any event store (EventStoreDB): reads the log after `after` through the port. */
export const countLogThrough =
  (eventStore: EventStore, batch = 5000): LogCounter =>
  async (_knex, { after, upTo, buckets }) => {
    const counts: BucketCounts = new Map();
    const wanted = (bucket: number) => buckets.some((r) => bucket >= r.from && bucket <= r.to);
    for (let at = after; ; ) {
      const { events } = await eventStore.readAll({ after: at, limit: batch });
      const within = events.filter((e) => compareLogPositions(e.position, upTo) <= 0);
      countEvents(within.filter((e) => wanted(bucketOf(e.position))), counts);
      if (within.length < events.length || events.length === 0) return counts;
      at = events.at(-1)!.position;
    }
  };

export type CompletenessFinding = Readonly<{
  projection: string;
  checkedAt: string;
  /** The checkpoint the counts were compared at. */
  checkpoint: string;
  missing: number;
  doubled: number;
  buckets: readonly BucketDifference[];
}>;

type FindingRow = { projection: string; checked_at: Date; tx: string; pos: string; missing: string; doubled: string; buckets: BucketDifference[]; sweep_next: string };

const toFinding = (row: FindingRow): CompletenessFinding => ({
  projection: row.projection,
  checkedAt: new Date(row.checked_at).toISOString(),
  checkpoint: formatPosition(positionOf(row)),
  missing: Number(row.missing),
  doubled: Number(row.doubled),
  buckets: row.buckets,
});

export const readCompletenessFindings = async (knex: Knex): Promise<Map<string, CompletenessFinding>> => {
  const rows = await knex(COMPLETENESS_TABLE).select<FindingRow[]>('*');
  return new Map(rows.map((row) => [row.projection, toFinding(row)]));
};

/** Older buckets checked again per run, a different slice each time, so every bucket comes round. */
export const SWEEP_BUCKETS = 20;
/** Differing buckets kept on record (each is checked again every run). */
const MAX_KEPT = 1000;

const mergeRanges = (ranges: BucketRange[]): BucketRange[] =>
  ranges
    .sort((a, b) => a.from - b.from)
    .reduce<BucketRange[]>((merged, r) => {
      const last = merged.at(-1);
      if (last && r.from <= last.to + 1) merged[merged.length - 1] = { from: last.from, to: Math.max(last.to, r.to) };
      else merged.push(r);
      return merged;
    }, []);

/** Where the previous check of a projection stood. */
export type PreviousCheck = Readonly<{ headBucket: number; sweepNext: number; differing: readonly number[] }>;

/**
 * What one check covers. A full check (or a first one): every bucket up to the head. Otherwise
 * the buckets from just before the previous head to this one (where a late-committing event
 * lands), the buckets that differed last time, and the next slice of the older ones.
 */
export const bucketsToCheck = (head: number, previous: PreviousCheck | null, full: boolean) => {
  if (full || !previous) return { ranges: [{ from: 0, to: head }], sweepNext: 0 };
  const recentFrom = Math.max(0, Math.min(previous.headBucket, head) - 1);
  const sweepFrom = previous.sweepNext < recentFrom ? previous.sweepNext : 0;
  const sweepTo = Math.min(sweepFrom + SWEEP_BUCKETS, recentFrom) - 1;
  const ranges: BucketRange[] = [{ from: recentFrom, to: head }, ...previous.differing.map((b) => ({ from: b, to: b }))];
  if (sweepTo >= sweepFrom) ranges.push({ from: sweepFrom, to: sweepTo });
  return { ranges: mergeRanges(ranges), sweepNext: sweepTo + 1 >= recentFrom ? 0 : sweepTo + 1 };
};

const previousCheck = (row: FindingRow | undefined): PreviousCheck | null =>
  row ? { headBucket: bucketOf({ tx: 0n, pos: BigInt(row.pos) }), sweepNext: Number(row.sweep_next), differing: row.buckets.map((b) => b.bucket) } : null;

export type CompletenessDeps = Readonly<{ knex: Knex; countLog: LogCounter }>;

/** Compares one projection's counts with the log and records the finding; null before it first ran. */
const checkProjection = async ({ knex, countLog }: CompletenessDeps, name: string, full: boolean): Promise<CompletenessFinding | null> => {
  // The checkpoint and the counts commit together: read them, and the log below the checkpoint, in one snapshot.
  const found = await knex.transaction(
    async (trx) => {
      const checkpoint = await findCheckpointDetails(trx, name);
      if (!checkpoint) return null;
      const previous = await trx(COMPLETENESS_TABLE).where({ projection: name }).first<FindingRow | undefined>();
      const { ranges, sweepNext } = bucketsToCheck(bucketOf(checkpoint.position), previousCheck(previous), full);
      const consumed = await readConsumedCounts(trx, name, ranges);
      const logged = await countLog(trx, { after: checkpoint.countedAfter, upTo: checkpoint.position, buckets: ranges });
      return { at: checkpoint.position, sweepNext, ...compareCounts(consumed, logged) };
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );
  if (!found) return null;
  const checkedAt = new Date();
  const buckets = found.buckets.slice(0, MAX_KEPT);
  await knex(COMPLETENESS_TABLE)
    .insert({ projection: name, checked_at: checkedAt, tx: found.at.tx.toString(), pos: found.at.pos.toString(), missing: found.missing, doubled: found.doubled, buckets: JSON.stringify(buckets), sweep_next: found.sweepNext })
    .onConflict('projection')
    .merge();
  return { projection: name, checkedAt: checkedAt.toISOString(), checkpoint: formatPosition(found.at), missing: found.missing, doubled: found.doubled, buckets };
};

/** Checks the named projections (all by default); `full` covers every bucket instead of the recent ones and a slice. */
export const checkCompleteness = async (deps: CompletenessDeps, options: { names?: readonly string[]; full?: boolean } = {}) => {
  const findings: CompletenessFinding[] = [];
  for (const name of options.names ?? PROJECTION_NAMES) {
    const finding = await checkProjection(deps, name, options.full ?? false);
    if (finding) findings.push(finding);
  }
  return findings;
};

export const describeFinding = (f: Pick<CompletenessFinding, 'missing' | 'doubled'>, caughtUp: boolean) =>
  [
    ...(f.missing ? [`${caughtUp ? 'caught up but ' : ''}missing ${f.missing} event${f.missing === 1 ? '' : 's'} of the log below its checkpoint`] : []),
    ...(f.doubled ? [`${f.doubled} event${f.doubled === 1 ? '' : 's'} applied twice`] : []),
  ].join('; ');

/** Checks every projection now and then, in the projector; says so in the log when a finding changes. */
export const startCompletenessChecks = (deps: CompletenessDeps, { logger, intervalMs = 10_000 }: { logger: Logger; intervalMs?: number }) => {
  const said = new Map<string, string>();
  const run = async () => {
    for (const finding of await checkCompleteness(deps)) {
      const now = describeFinding(finding, false);
      if (now === (said.get(finding.projection) ?? '')) continue;
      said.set(finding.projection, now);
      if (now) logger.error('projection incomplete', { projection: finding.projection, finding: now, buckets: finding.buckets.slice(0, 10) });
      else logger.info('projection complete again', { projection: finding.projection });
    }
  };
  let timer: NodeJS.Timeout | null = null;
  let current: Promise<void> = Promise.resolve();
  const schedule = () => {
    timer = setTimeout(() => {
      current = run()
        .catch((error: unknown) => void logger.warn('completeness check failed', { error: (error as Error).message }))
        .finally(() => timer && schedule());
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      if (timer) clearTimeout(timer);
      timer = null;
      await current;
    },
  };
};
