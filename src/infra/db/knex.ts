import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

// bigint (int8) columns come back as strings by default; counts and positions we need as numbers
// are converted where read, so the default stays lossless.
export const createKnex = (connectionString: string, pool: { min?: number; max?: number } = {}): Knex =>
  knexFactory({
    client: 'pg',
    connection: { connectionString, application_name: 'taskflow' },
    pool: { min: pool.min ?? 0, max: pool.max ?? 10 },
  });

export const createPgPool = (connectionString: string, max = 10): pg.Pool => {
  const pool = new pg.Pool({ connectionString, max, application_name: 'taskflow' });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
};
