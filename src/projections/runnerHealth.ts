import type { Knex } from 'knex';
import { isTransientError } from '../infra/transientErrors.js';
import type { Logger } from '../infra/logger.js';
import { recordProjectionError } from './checkpoints.js';

/**
 * `retrying`: a dependency is unavailable (or an error outside any event): the runner tries again
 * by itself. `failed`: it stopped on an event it cannot apply and waits for an operator.
 */
export type ProjectionState = 'starting' | 'live' | 'retrying' | 'failed' | 'stopped';

/** A dependency that is away: try again soon, so the projection resumes within about a second of its return. */
const TRANSIENT_FIRST_MS = 50;
const TRANSIENT_MAX_MS = 1000;
/** An error tied to no event (a bug in reading the log, a schema not migrated): tried again slowly. */
const UNEXPECTED_FIRST_MS = 500;
const UNEXPECTED_MAX_MS = 30_000;
/** While a dependency stays away, one log line per this many tries. */
const LOG_EVERY_TRIES = 30;

/**
 * An error's own words, on one line. knex puts the whole statement, values included, in front of
 * the database's message: only the database's part is kept (with its SQLSTATE).
 */
export const errorMessage = (error: unknown) => {
  const { message = String(error), code, severity } = error as { message?: string; code?: unknown; severity?: unknown };
  const fromDatabase = typeof severity === 'string' && typeof code === 'string';
  const own = fromDatabase && message.includes(' - ') ? `${message.slice(message.lastIndexOf(' - ') + 3)} (${code})` : message;
  return own.split('\n')[0]!;
};

/**
 * A runner's state as this process sees it, the delay before its next try, and the last error
 * recorded on its checkpoint row for other processes (cleared at the next progress). The record
 * is written in the background: a dependency that hangs must not delay the next try.
 */
export const createRunnerHealth = (knex: Knex, name: string, logger: Logger) => {
  let state: ProjectionState = 'starting';
  let lastError: string | null = null;
  // A previous owner may have left an error on record: the first progress clears it.
  let errorRecorded = true;
  let tries = 0;
  let retryInMs: number | null = null;
  // One write at a time, of the latest message: tries while PostgreSQL is away do not pile up.
  let wanted: string | null | undefined;
  let writing: Promise<void> | null = null;
  const record = (message: string | null) => {
    errorRecorded = message !== null;
    wanted = message;
    writing ??= (async () => {
      while (wanted !== undefined) {
        const next = wanted;
        wanted = undefined;
        await recordProjectionError(knex, name, next).catch(() => undefined);
      }
      writing = null;
    })();
    return writing;
  };

  return {
    /** `retryInMs`: the wait before the runner's next try, while retrying. */
    status: () => ({ state, lastError, retryInMs }),
    /** The runner made progress. */
    async live() {
      if (tries > 0) logger.info('projection resumed', { projection: name, afterTries: tries });
      state = 'live';
      lastError = null;
      tries = 0;
      retryInMs = null;
      if (errorRecorded) await record(null);
    },
    /** Something failed that the runner retries by itself; returns how long to wait first. */
    retrying(error: unknown): number {
      const transient = isTransientError(error);
      const delay = transient
        ? Math.min(TRANSIENT_FIRST_MS * 2 ** tries, TRANSIENT_MAX_MS)
        : Math.min(UNEXPECTED_FIRST_MS * 2 ** tries, UNEXPECTED_MAX_MS);
      tries++;
      retryInMs = delay;
      state = 'retrying';
      lastError = `${transient ? 'dependency unavailable' : 'error'}: ${errorMessage(error)}`;
      if (!transient || tries % LOG_EVERY_TRIES === 1)
        logger[transient ? 'warn' : 'error']('projection retrying', { projection: name, transient, tries, retryInMs: delay, error: lastError });
      void record(lastError);
      return delay;
    },
    /** Stopped on an event (recorded in projection_failures): no error on the checkpoint row besides. */
    failed(message: string) {
      state = 'failed';
      lastError = message;
      if (errorRecorded) void record(null);
    },
    stopped() {
      state = 'stopped';
    },
  };
};
