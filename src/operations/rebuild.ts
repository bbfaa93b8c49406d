import type { Knex } from 'knex';
import { ConflictError } from '../domain/errors.js';
import { compareLogPositions, LOG_START, type LogPosition } from '../domain/event.js';
import type { Cache } from '../infra/cache/cache.js';
import type { EventStore, ReadAllResult } from '../infra/eventstore/eventStore.js';
import { readLeaseRecords, type LeaderLock, type Lease } from '../infra/lock/lock.js';
import { adoptRebuild, commitBatch, findCheckpoint, rebuildCheckpointName, startRebuildCheckpoint, type CommitNotice } from '../projections/checkpoints.js';
import { countEvents } from '../projections/completeness.js';
import { readParkedEventIds } from '../projections/failures.js';
import { eventsToApply, type Projection } from '../projections/projection.js';
import { liveProjection, readModelNamed } from './projections.js';
import { completeShadowIndexes, createShadowTables, lockTables, shadowOf, shadowTablesUsable, swapInShadowTables } from './shadowTables.js';
import { formatPosition } from '../projections/checkpoints.js';

export const DEFAULT_REBUILD_BATCH = 5000;
const SWAP_LOCK_TIMEOUT = '3s';
const SWAP_ATTEMPTS = 10;
const TOTAL_REFRESH_MS = 2000;

export type RebuildDeps = Readonly<{
  knex: Knex;
  eventStore: EventStore;
  lock: LeaderLock;
  cache: Cache;
  /** Sent by the swap's own commit, so in-process caches of every instance forget the old tables even if this process dies next. */
  swapNotice?: CommitNotice | null;
}>;

export type RebuildProgress = Readonly<{
  projection: string;
  phase: 'building' | 'indexing' | 'swapping';
  /** Events of the log behind the rebuild's checkpoint, including those of an interrupted run. */
  done: number;
  /** Events in the log; it grows while writes arrive. */
  total: number;
  /** `done` when this run started: more than 0 when it resumed an interrupted rebuild. */
  resumedAt: number;
}>;

export type RebuildResult = Readonly<{
  projection: string;
  events: number;
  resumedAt: number;
  seconds: number;
  /** Events this run read and applied, per second. */
  eventsPerSecond: number;
  checkpoint: string;
  cacheInvalidated: boolean;
}>;

export type RebuildOptions = Readonly<{ batchSize?: number; onProgress?: (progress: RebuildProgress) => void }>;

const isLockTimeout = (error: unknown) => (error as { code?: string }).code === '55P03';

const takeRebuildLock = async (knex: Knex, lock: LeaderLock, name: string): Promise<Lease> => {
  const lease = await lock.tryAcquire(`rebuild:${name}`);
  if (lease) return lease;
  const holder = (await readLeaseRecords(knex).catch(() => [])).find((l) => l.name === `rebuild:${name}` && l.live)?.holder;
  throw new ConflictError(`A rebuild of ${name} is already running${holder ? ` (${holder})` : ''}: wait for it to finish`, 'REBUILD_RUNNING');
};

/** Where the rebuild starts: its own checkpoint when an interrupted run left usable shadow tables, else the start of the log. */
const prepareShadow = async (knex: Knex, live: Projection, checkpointName: string): Promise<LogPosition> => {
  const saved = await findCheckpoint(knex, checkpointName);
  if (saved && (await shadowTablesUsable(knex, live.tables))) return saved;
  await knex.transaction(async (trx) => {
    await createShadowTables(trx, live.tables);
    await startRebuildCheckpoint(trx, live.name);
  });
  return LOG_START;
};

/**
 * Rebuilds a read model from the start of the log into shadow tables while the live one keeps
 * serving; each batch moves the rebuild's own checkpoint in the same transaction, so a killed
 * rebuild resumes where it stopped. Once caught up, one transaction locks the live tables,
 * applies the last events, swaps the tables and points the live checkpoint at the rebuild's
 * position, with the rebuild's counts (the live runner's next guarded checkpoint move fails, and
 * it restarts from there). Parked events stay skipped; a failure of the live model is cleared.
 */
export const rebuildProjection = async (deps: RebuildDeps, name: string, options: RebuildOptions = {}): Promise<RebuildResult> => {
  const { knex, eventStore, cache } = deps;
  const model = readModelNamed(name);
  const live = liveProjection(model);
  const shadow = model.over(shadowOf);
  const batchSize = options.batchSize ?? DEFAULT_REBUILD_BATCH;
  const checkpointName = rebuildCheckpointName(name);
  const lease = await takeRebuildLock(knex, deps.lock, name);
  try {
    const startedAt = performance.now();
    let position = await prepareShadow(knex, live, checkpointName);
    const resumed = compareLogPositions(position, LOG_START) > 0;
    const [all, remaining] = await Promise.all([resumed ? eventStore.lagAfter(LOG_START) : null, eventStore.lagAfter(position)]);
    // Counted a moment apart while writes arrive: never below zero.
    const resumedAt = all ? Math.max(0, all.events - remaining.events) : 0;
    let done = resumedAt;
    let total = resumedAt + remaining.events;
    let totalCheckedAt = Date.now();
    const report = async (phase: RebuildProgress['phase']) => {
      if (done > total || Date.now() - totalCheckedAt > TOTAL_REFRESH_MS) {
        total = done + (await eventStore.lagAfter(position)).events;
        totalCheckedAt = Date.now();
      }
      options.onProgress?.({ projection: name, phase, done, total, resumedAt });
    };
    // Events an operator parked are skipped here too (and counted, as the live runner does).
    const parked = await readParkedEventIds(knex, name);
    const apply = async (trx: Knex.Transaction, from: LogPosition, batch: ReadAllResult) => {
      const relevant = eventsToApply(shadow, batch.events, parked);
      const write = relevant.length ? await shadow.prepare(trx, relevant) : undefined;
      const to = batch.events.at(-1)!.position;
      lease.lost.throwIfAborted();
      await commitBatch(trx, checkpointName, from, to, write, countEvents(batch.events));
      return to;
    };
    const read = (after: LogPosition) => {
      const next = eventStore.readAll({ after, limit: batchSize });
      next.catch(() => undefined);
      return next;
    };

    await report('building');
    // Read the next batch while this one is written. A short batch means the head is near: swap.
    let pending = read(position);
    for (;;) {
      const batch = await pending;
      if (batch.events.length === 0) break;
      pending = read(batch.events.at(-1)!.position);
      const from = position;
      position = await knex.transaction(async (trx) => {
        // A crash loses at most the last batches, and the rebuild checkpoint goes back with them.
        await trx.raw('SET LOCAL synchronous_commit = off');
        return apply(trx, from, batch);
      });
      done += batch.events.length;
      await report('building');
      if (batch.events.length < batchSize) break;
    }

    await report('indexing');
    await completeShadowIndexes(knex, live.tables);
    for (let attempt = 1; ; attempt++) {
      await report('swapping');
      try {
        const swapped = await knex.transaction(async (trx) => {
          await trx.raw(`SET LOCAL lock_timeout = '${SWAP_LOCK_TIMEOUT}'`);
          await lockTables(trx, live.tables);
          // The last events, under the lock; anything later is the live runner's to apply on the new tables.
          let at = position;
          let events = 0;
          for (;;) {
            const batch = await eventStore.readAll({ after: at, limit: batchSize });
            if (batch.events.length === 0) break;
            at = await apply(trx, at, batch);
            events += batch.events.length;
            if (batch.events.length < batchSize) break;
          }
          await swapInShadowTables(trx, live.tables);
          await adoptRebuild(trx, live.name, at);
          if (deps.swapNotice) await trx.raw('SELECT pg_notify(?, ?)', [deps.swapNotice.channel, deps.swapNotice.payload]);
          return { at, events };
        });
        position = swapped.at;
        done += swapped.events;
        break;
      } catch (error) {
        // Rolled back whole: the shadow tables and their checkpoint are as before; try again.
        if (!isLockTimeout(error) || attempt >= SWAP_ATTEMPTS) throw error;
      }
    }
    // The swap's own notice already told every in-process cache (this one's too); Redis needs a new epoch.
    const cacheInvalidated = deps.swapNotice
      ? true
      : await cache.invalidateAll().then(
          () => true,
          () => false,
        );
    const seconds = (performance.now() - startedAt) / 1000;
    return {
      projection: name,
      events: done,
      resumedAt,
      seconds: Math.round(seconds * 100) / 100,
      eventsPerSecond: Math.round((done - resumedAt) / Math.max(seconds, 0.001)),
      checkpoint: formatPosition(position),
      cacheInvalidated,
    };
  } finally {
    await lease.release();
  }
};
