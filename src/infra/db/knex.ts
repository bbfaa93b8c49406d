import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

/** A PostgreSQL that does not answer a connection attempt within this is treated as down. */
const CONNECT_TIMEOUT_MS = 5000;
/** Longest wait for a free connection of a pool (all busy, or each attempt timing out). */
const ACQUIRE_TIMEOUT_MS = 5000;
/**
 * Longest a statement of the request path may run: the server cancels it (statement_timeout),
 * and the client gives up a second later if the server has stopped answering at all. Together
 * with the timeouts above, a request meets a hung or stopped PostgreSQL with a 503 within seconds.
 */
export const REQUEST_STATEMENT_TIMEOUT_MS = 5000;

// bigint (int8) columns come back as strings by default; counts and positions we need as numbers
// are converted where read, so the default stays lossless.
export type KnexOptions = Readonly<{
  min?: number;
  max?: number;
  /** Shown in pg_stat_activity. */
  name?: string;
  /** Commit without waiting for the disk: only for data that can be derived again (read models). */
  asyncCommit?: boolean;
  /** Cancels statements running longer: for the request path, never for migrations or rebuilds. */
  statementTimeoutMs?: number;
}>;

/** pg connection settings shared by knex and the plain pools. */
const timeouts = (statementTimeoutMs: number | undefined) => ({
  connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  ...(statementTimeoutMs ? { statement_timeout: statementTimeoutMs, query_timeout: statementTimeoutMs + 1000 } : {}),
});

// A failed connection reaches the query that needed it as an error (a 503 for a request); knex
// would also print each one, with its stack, to the console: during an outage, one per query.
const log = {
  warn: (message: string) => {
    if (!/^(Acquire connection error|Connection Error)/.test(message)) console.warn(message);
  },
};

export const createKnex = (connectionString: string, options: KnexOptions = {}): Knex =>
  knexFactory({
    client: 'pg',
    connection: {
      connectionString,
      application_name: options.name ?? 'taskflow',
      ...timeouts(options.statementTimeoutMs),
      ...(options.asyncCommit ? { options: '-c synchronous_commit=off' } : {}),
    },
    pool: { min: options.min ?? 0, max: options.max ?? 10 },
    acquireConnectionTimeout: ACQUIRE_TIMEOUT_MS,
    // A query-builder error's message says what failed, without the statement and its values
    // (which can hold personal data) in front of it. knex.raw still puts its SQL in front: where
    // such messages are kept, the database's part is taken (projections/runnerHealth.ts errorMessage).
    compileSqlOnError: false,
    log,
  });

export const createPgPool = (connectionString: string, max = 10, options: Pick<KnexOptions, 'statementTimeoutMs'> = {}): pg.Pool => {
  const pool = new pg.Pool({ connectionString, max, application_name: 'taskflow', ...timeouts(options.statementTimeoutMs) });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
};
