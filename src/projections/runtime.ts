import { EventEmitter } from 'node:events';
import type { Knex } from 'knex';
import { compareLogPositions, type LogPosition, type RecordedEvent } from '../domain/event.js';
import type { EventStore } from '../infra/eventstore/eventStore.js';
import type { Logger } from '../infra/logger.js';
import { isTransientError } from '../infra/transientErrors.js';
import { inSpan, linksTo } from '../infra/tracing.js';
import { CheckpointMovedError, readCheckpoints, type CommitNotice } from './checkpoints.js';
import { openCursor, type Cursor } from './cursor.js';
import { failedEventOf, findFailure, readParkedEventIds, recordFailure } from './failures.js';
import { eventsToApply, NOTHING_TO_WRITE, type Projection } from './projection.js';
import { createRunnerHealth, errorMessage } from './runnerHealth.js';

export type { ProjectionState } from './runnerHealth.js';

const IDLE_POLL_MS = 1000;
/** A read held back by an append in flight is tried again soon, then less often while it stays held (an append's commit wakes the runner anyway). */
const BLOCKED_RETRY_MS = 3;
const BLOCKED_RETRY_MAX_MS = 50;
/** Tries of a batch that fails (not for want of a dependency) before its failing event is looked for. */
const BATCH_ATTEMPTS = 3;
const BATCH_RETRY_MS = 100;
/** How often a failed runner looks whether an operator retried or parked. */
const FAILED_POLL_MS = 500;

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

export type CacheChanges = Readonly<{
  before: (scopes: readonly string[], to: LogPosition) => Promise<void>;
  notice?: (scopes: readonly string[], to: LogPosition) => CommitNotice;
  after: (scopes: readonly string[], to: LogPosition) => Promise<void>;
}>;

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
  /**
   * The query cache around each batch that changes cache scopes: `before` the commit (entries of
   * those scopes stop matching now, whatever crashes next), a `notice` the commit itself sends to
   * other instances, and `after` the commit (fresh loads now reflect the batch).
   */
  cacheChanges?: CacheChanges;
  batchSize?: number;
}>;

/**
 * Runs one projection: catch up from its checkpoint, then follow the log as it grows. A failure
 * for want of a dependency is retried until it works (at most a second apart); a batch that fails
 * otherwise is tried a few times, then applied one event at a time: the events before the
 * failing one are stored, and the runner stops on that one (`failed`, recorded in the database)
 * until an operator retries the projection or parks the event (operations/repair.ts).
 */
export const runProjection = (deps: ProjectorDeps, projection: Projection, signal?: AbortSignal) => {
  const { knex, eventStore, watermarks, logger } = deps;
  const name = projection.name;
  const batchSize = deps.batchSize ?? 500;
  const wakeUp = createWakeSignal();
  const health = createRunnerHealth(knex, name, logger);
  let stopping = false;
  const running = () => !stopping && !signal?.aborted;
  /** A failure of this projection's own making: not a dependency away, not another owner, not a stop. */
  const isDeterministic = (error: unknown) => running() && !(error instanceof CheckpointMovedError) && !isTransientError(error);

  const unsubscribe = eventStore.onAppend(wakeUp.fire);

  /** Writes what a batch changes and moves the checkpoint; a batch with nothing to write moves it in memory. */
  const applyBatch = async (cursor: Cursor, events: readonly RecordedEvent[], parked: ReadonlySet<string>) => {
    const relevant = eventsToApply(projection, events, parked);
    if (relevant.length === 0 && !cursor.due()) return cursor.skip(events);
    // The batch's span links to the requests whose trace context the events carry.
    const links = linksTo(relevant.map((e) => e.metadata.traceparent));
    const attributes = { 'taskflow.projection': name, 'taskflow.events': events.length };
    const to = events.at(-1)!.position;
    const changes = deps.cacheChanges;
    const { scopes } = await inSpan(`projection ${name}`, { links, attributes }, async () => {
      const write = relevant.length ? await projection.prepare(knex, relevant) : NOTHING_TO_WRITE;
      // A runner whose lease was lost must not write.
      signal?.throwIfAborted();
      const cached = write.scopes.length > 0 && changes !== undefined;
      if (cached) await changes.before(write.scopes, to);
      await cursor.commit(events, write, cached ? changes.notice?.(write.scopes, to) : undefined);
      return write;
    });
    // Before telling waiters, so a read-your-writes reader's fresh load is stamped with the batch.
    if (scopes.length) await changes?.after(scopes, to).catch((error) => logger.warn('cache update failed', { projection: name, error: errorMessage(error) }));
  };

  /** Applies the events one at a time; stops on the first that fails, with everything before it stored. */
  const stopOnFailingEvent = async (cursor: Cursor, events: readonly RecordedEvent[], parked: ReadonlySet<string>) => {
    for (const event of events) {
      try {
        await applyBatch(cursor, [event], parked);
      } catch (error) {
        if (!isDeterministic(error)) throw error;
        await cursor.commit([], NOTHING_TO_WRITE);
        const failed = failedEventOf(event);
        const message = errorMessage(error);
        await recordFailure(knex, name, failed, message, BATCH_ATTEMPTS + 1);
        health.failed(message);
        logger.error('projection stopped on an event it cannot apply', {
          projection: name, eventId: failed.eventId, streamId: failed.streamId, streamVersion: failed.streamVersion, type: failed.type, error: message,
        });
        return false;
      }
    }
    // One at a time, every event went through (they failed only together).
    return true;
  };

  /** Applies a batch, trying again a few times when it fails; false when the runner stopped on an event. */
  const applyOrStop = async (cursor: Cursor, events: readonly RecordedEvent[], parked: ReadonlySet<string>): Promise<boolean> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await applyBatch(cursor, events, parked);
        return true;
      } catch (error) {
        if (!isDeterministic(error)) throw error;
        if (attempt >= BATCH_ATTEMPTS) return stopOnFailingEvent(cursor, events, parked);
        logger.warn('projection batch failed; trying again', { projection: name, attempt, error: errorMessage(error) });
        await wakeUp.wait(BATCH_RETRY_MS * attempt);
      }
    }
  };

  /** Catches up and follows the log from the stored checkpoint, until stopped or stopped on an event. */
  const follow = async () => {
    const cursor = await openCursor(knex, name);
    const parked = await readParkedEventIds(knex, name);
    watermarks.advanced(name, cursor.at);
    let heldBack = 0;
    while (running()) {
      const { events, blocked } = await eventStore.readAll({ after: cursor.at, limit: batchSize });
      heldBack = blocked && events.length === 0 ? heldBack + 1 : 0;
      if (events.length === 0) {
        // Drained: store a checkpoint moved in memory.
        await cursor.commit([], NOTHING_TO_WRITE);
        await health.live();
        await wakeUp.wait(blocked ? Math.min(BLOCKED_RETRY_MS * 2 ** (heldBack - 1), BLOCKED_RETRY_MAX_MS) : IDLE_POLL_MS);
        continue;
      }
      deps.onBatch?.(name, events.length);
      if (!(await applyOrStop(cursor, events, parked))) return;
      watermarks.advanced(name, cursor.at);
      await health.live();
    }
  };

  /** A failed runner keeps its lease but only looks, now and then, whether the failure was cleared. */
  const waitWhileFailed = async () => {
    for (let failure = await findFailure(knex, name); failure && running(); failure = await findFailure(knex, name)) {
      health.failed(failure.error);
      await wakeUp.wait(FAILED_POLL_MS);
    }
  };

  const loop = async () => {
    while (running()) {
      try {
        await waitWhileFailed();
        if (running()) await follow();
      } catch (error) {
        if (!running()) break;
        // A rebuild swapped in new tables and moved the checkpoint: start again from there.
        if (error instanceof CheckpointMovedError) {
          logger.info('checkpoint moved by another process; re-reading it', { projection: name });
          continue;
        }
        await wakeUp.wait(health.retrying(error));
      }
    }
    health.stopped();
  };
  signal?.addEventListener('abort', wakeUp.fire);
  const done = loop();

  return {
    name,
    status: health.status,
    async stop() {
      stopping = true;
      unsubscribe();
      wakeUp.fire();
      await done;
      watermarks.forget(name);
    },
  };
};
export type ProjectionRunner = ReturnType<typeof runProjection>;
