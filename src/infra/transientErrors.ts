// A dependency that is not there right now (PostgreSQL restarting, a network blip, Redis away, a
// serialization conflict): the same work can succeed a moment later. Anything else — a constraint
// violated, a bug — fails the same way every time it is tried.

/** SQLSTATE classes: connection exception, insufficient resources, operator intervention. */
const TRANSIENT_SQLSTATE_CLASSES = new Set(['08', '53', '57']);
/** serialization_failure, deadlock_detected, lock_not_available (lock_timeout). */
const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '55P03']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/** pg, pg-pool and ioredis say these in words only (a lost connection, none in time, a server that stopped answering). */
const TRANSIENT_MESSAGES =
  /Connection terminated|Connection ended unexpectedly|Connection is closed|Client has encountered a connection error|Client was closed|timeout exceeded when trying to connect|Query read timeout|Stream isn't writeable|Command timed out|max retries per request/i;
/** knex's pool, ioredis, and the EventStoreDB client's error classes. */
const TRANSIENT_NAMES = new Set(['KnexTimeoutError', 'MaxRetriesPerRequestError', 'UnavailableError', 'DeadlineExceededError', 'NotLeaderError']);
const TRANSIENT_ESDB_TYPES = new Set(['unavailable', 'deadline-exceeded', 'timeout', 'not-leader']);

type ErrorLike = { code?: unknown; syscall?: unknown; name?: unknown; message?: unknown; type?: unknown; cause?: unknown; errors?: unknown };

const isSqlState = (code: string) => /^[0-9A-Z]{5}$/.test(code) && (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_SQLSTATE_CLASSES.has(code.slice(0, 2)));

/** True when the failure says a dependency is unavailable (also through `cause` and AggregateError's `errors`). */
export const isTransientError = (error: unknown, depth = 0): boolean => {
  if (!error || typeof error !== 'object' || depth > 4) return false;
  const e = error as ErrorLike;
  const code = typeof e.code === 'string' ? e.code : '';
  if (NETWORK_CODES.has(code) || isSqlState(code)) return true;
  // A Unix socket that is not there: PostgreSQL is stopped (it removes its socket file).
  if (code === 'ENOENT' && e.syscall === 'connect') return true;
  if (typeof e.name === 'string' && TRANSIENT_NAMES.has(e.name)) return true;
  if (typeof e.type === 'string' && TRANSIENT_ESDB_TYPES.has(e.type)) return true;
  if (typeof e.message === 'string' && TRANSIENT_MESSAGES.test(e.message)) return true;
  return isTransientError(e.cause, depth + 1) || (Array.isArray(e.errors) && e.errors.some((inner) => isTransientError(inner, depth + 1)));
};
