import { EventEmitter } from 'node:events';
import type { Knex } from 'knex';
import { compareLogPositions, type LogPosition } from '../domain/event.js';
import type { EventStore } from '../infra/eventstore/eventStore.js';
import type { Logger } from '../infra/logger.js';
import { inSpan, linksTo } from '../infra/tracing.js';
import { CheckpointMovedError, commitBatch, readCheckpoint, readCheckpoints, recordProjectionError } from './checkpoints.js';
import { NOTHING_TO_WRITE, type Projection } from './projection.js';

export type ProjectionState = 'starting' | 'live' | 'failed' | 'stopped';

const IDLE_POLL_MS = 1000;
const BLOCKED_RETRY_MS = 3;
const MAX_BACKOFF_MS = 30_000;
const LAZY_CHECKPOINT_MS = 1000;

/** A wake-up that is not lost when it fires before anyone waits. */
const createWakeSignal = () => {
  let pending = false;
  let wake: (() => void) | null = null;
  return {
    fire: () => {
      pending = true;
      wake?.();
    },
    wait: (ms: number) =>
      new Promise<void>((resolve) => {
        if (pending) {
          pending = false;
          return resolve();
        }
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          wake = null;
          pending = false;
          resolve();
        }
        wake = done;
      }),
  };
};

/**
 * Where each projection stands. Runners in this process report through `advanced`; positions
 * of projections run elsewhere are read from the checkpoint table.
 */
export const createProjectionWatermarks = (knex: Knex, options: { onKnown?: (name: string, position: LogPosition) => void } = {}) => {
  const local = new Map<string, LogPosition>();
  const emitter = new EventEmitter().setMaxListeners(0);
  const readStored = async () => {
    const stored = await readCheckpoints(knex);
    for (const [name, position] of stored) options.onKnown?.(name, position);
    return stored;
  };

  const reached = (names: readonly string[], target: LogPosition, known: Map<string, LogPosition>) =>
    names.every((n) => {
      const at = known.get(n);
      return at !== undefined && compareLogPositions(at, target) >= 0;
    });

  return {
    advanced(name: string, position: LogPosition) {
      local.set(name, position);
      options.onKnown?.(name, position);
      emitter.emit('advanced');
    },
    forget(name: string) {
      local.delete(name);
    },
    /** Resolves true once every named projection has passed `target`, false after `timeoutMs`. */
    async waitFor(names: readonly string[], target: LogPosition, timeoutMs: number): Promise<boolean> {
      const deadline = Date.now() + timeoutMs;
      const allLocal = names.every((n) => local.has(n));
      for (;;) {
        const known = allLocal ? local : await readStored();
        if (reached(names, target, known)) return true;
        const left = deadline - Date.now();
        if (left <= 0) return false;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.min(left, allLocal ? left : 20));
          function done() {
            clearTimeout(timer);
            emitter.off('advanced', done);
            resolve();
          }
          emitter.on('advanced', done);
        });
      }
    },
  };
};
export type ProjectionWatermarks = ReturnType<typeof createProjectionWatermarks>;

export type ProjectorDeps = Readonly<{
  /**
   * The projector's own connections. compose opens them with synchronous_commit off: read models
   * are derived, so a crash may lose the last commits (rows and checkpoint together) and they
   * are simply projected again. Batches wait neither for the disk nor for requests' connections.
   */
  knex: Knex;
  eventStore: EventStore;
  watermarks: ProjectionWatermarks;
  logger: Logger;
  /** Told how many events each committed batch covered (for metrics). */
  onBatch?: (projection: string, events: number) => void;
  /** Called after each committed batch with the cache scopes it changed and the position it reached. */
  invalidate?: (scopes: readonly string[], to: LogPosition) => Promise<void>;
  batchSize?: number;
}>;

/** Runs one projection: catch up from its checkpoint, then follow the log as it grows. */
export const runProjection = (deps: ProjectorDeps, projection: Projection, signal?: AbortSignal) => {
  const { knex, eventStore, watermarks, logger } = deps;
  const batchSize = deps.batchSize ?? 500;
  const wakeUp = createWakeSignal();
  let state: ProjectionState = 'starting';
  let lastError: string | null = null;
  // A previous owner may have left an error on record: the first progress clears it.
  let errorRecorded = true;
  let stopping = false;
  const clearRecordedError = async () => {
    if (!errorRecorded) return;
    await recordProjectionError(knex, projection.name, null);
    errorRecorded = false;
  };

  const unsubscribe = eventStore.onAppend(wakeUp.fire);

  const loop = async () => {
    let backoff = 500;
    while (!stopping && !signal?.aborted) {
      try {
        let checkpoint = await readCheckpoint(knex, projection.name);
        // Batches with nothing for this projection move the checkpoint in memory only; it is
        // written with the next real batch, when the log is drained, or after a second.
        let persisted = checkpoint;
        let persistedAt = Date.now();
        /** Writes `write` (if any) and moves the stored checkpoint to `to`. */
        const persist = async (to: LogPosition, write = NOTHING_TO_WRITE) => {
          if (compareLogPositions(to, persisted) === 0) return;
          await commitBatch(knex, projection.name, persisted, to, write);
          persisted = to;
          persistedAt = Date.now();
        };
        watermarks.advanced(projection.name, checkpoint);
        while (!stopping && !signal?.aborted) {
          const { events, blocked } = await eventStore.readAll({ after: checkpoint, limit: batchSize });
          if (events.length === 0) {
            await persist(checkpoint);
            state = 'live';
            await clearRecordedError();
            await wakeUp.wait(blocked ? BLOCKED_RETRY_MS : IDLE_POLL_MS);
            continue;
          }
          const relevant = events.filter((e) => projection.handles.has(e.type));
          const to = events.at(-1)!.position;
          deps.onBatch?.(projection.name, events.length);
          if (relevant.length === 0 && Date.now() - persistedAt < LAZY_CHECKPOINT_MS) {
            checkpoint = to;
            watermarks.advanced(projection.name, checkpoint);
            continue;
          }
          // The batch's span links to the requests whose trace context the events carry.
          const links = linksTo(relevant.map((e) => e.metadata.traceparent));
          const attributes = { 'taskflow.projection': projection.name, 'taskflow.events': events.length };
          const { scopes } = await inSpan(`projection ${projection.name}`, { links, attributes }, async () => {
            const write = relevant.length ? await projection.prepare(knex, relevant) : NOTHING_TO_WRITE;
            // A runner whose lease was lost must not write.
            signal?.throwIfAborted();
            await persist(to, write);
            return write;
          });
          // Invalidate before telling waiters, so a read-your-writes reader finds no stale entry.
          if (scopes.length) await deps.invalidate?.(scopes, to).catch((error) => logger.warn('cache invalidation failed', { projection: projection.name, error: (error as Error).message }));
          checkpoint = to;
          watermarks.advanced(projection.name, checkpoint);
          state = 'live';
          backoff = 500;
          await clearRecordedError();
        }
      } catch (error) {
        if (stopping || signal?.aborted) break;
        // A rebuild swapped in new tables and moved the checkpoint: start again from there.
        if (error instanceof CheckpointMovedError) {
          logger.info('checkpoint moved by another process; re-reading it', { projection: projection.name });
          continue;
        }
        state = 'failed';
        lastError = (error as Error).message;
        await recordProjectionError(knex, projection.name, lastError).catch(() => undefined);
        errorRecorded = true;
        logger.error('projection failed; retrying', { projection: projection.name, error, retryInMs: backoff });
        await wakeUp.wait(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
    state = 'stopped';
  };
  signal?.addEventListener('abort', wakeUp.fire);
  const done = loop();

  return {
    name: projection.name,
    status: () => ({ state, lastError }),
    async stop() {
      stopping = true;
      unsubscribe();
      wakeUp.fire();
      await done;
      watermarks.forget(projection.name);
    },
  };
};
export type ProjectionRunner = ReturnType<typeof runProjection>;
