import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

// bigint (int8) columns come back as strings by default; counts and positions we need as numbers
// are converted where read, so the default stays lossless.
export type KnexOptions = Readonly<{
  min?: number;
  max?: number;
  /** Shown in pg_stat_activity. */
  name?: string;
  /** Commit without waiting for the disk: only for data that can be derived again (read models). */
  asyncCommit?: boolean;
}>;

export const createKnex = (connectionString: string, options: KnexOptions = {}): Knex =>
  knexFactory({
    client: 'pg',
    connection: {
      connectionString,
      application_name: options.name ?? 'taskflow',
      ...(options.asyncCommit ? { options: '-c synchronous_commit=off' } : {}),
    },
    pool: { min: options.min ?? 0, max: options.max ?? 10 },
  });

export const createPgPool = (connectionString: string, max = 10): pg.Pool => {
  const pool = new pg.Pool({ connectionString, max, application_name: 'taskflow' });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
};
