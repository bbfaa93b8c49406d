import type { Knex } from 'knex';

// Who holds each leader lock, and the fencing token of the current lease. The token only grows:
// the leader writes it into the metadata of every event it emits.
export const up = async (knex: Knex): Promise<void> => {
  await knex.raw(`
    CREATE TABLE lock_leases (
      name text PRIMARY KEY,
      holder text NOT NULL,
      fencing_token bigint NOT NULL DEFAULT 0,
      acquired_at timestamptz NOT NULL DEFAULT now(),
      renewed_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL
    );
  `);
};

export const down = async (knex: Knex): Promise<void> => {
  await knex.raw('DROP TABLE lock_leases');
};
