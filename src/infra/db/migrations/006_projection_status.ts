import type { Knex } from 'knex';

// The last error of each projection runner, so `projections status` can tell a failing projection
// from a healthy one from any process; cleared by the runner once it makes progress again.
export const up = async (knex: Knex): Promise<void> => {
  await knex.raw(`
    ALTER TABLE projection_checkpoints
      ADD COLUMN last_error text,
      ADD COLUMN last_error_at timestamptz;
  `);
};

export const down = async (knex: Knex): Promise<void> => {
  await knex.raw('ALTER TABLE projection_checkpoints DROP COLUMN last_error, DROP COLUMN last_error_at');
};
