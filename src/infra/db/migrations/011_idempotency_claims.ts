import type { Knex } from 'knex';

export const up = async (knex: Knex): Promise<void> => {
  await knex.raw(`
    -- Each claim of a key has an id, kept by whoever takes it over, from which the request derives
    -- everything it decides (command ids, a new task's id); its owner renews renewed_at while the
    -- request runs, so a claim left by a process that died is seen to be dead within seconds.
    ALTER TABLE idempotency_keys
      ADD COLUMN claim_id uuid NOT NULL DEFAULT gen_random_uuid(),
      ADD COLUMN renewed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      ADD COLUMN attempts integer NOT NULL DEFAULT 1;
    UPDATE idempotency_keys SET renewed_at = created_at;
    CREATE INDEX idempotency_keys_in_flight ON idempotency_keys (claim_id) WHERE status IS NULL;
  `);
};

export const down = async (knex: Knex): Promise<void> => {
  await knex.raw(`
    DROP INDEX idempotency_keys_in_flight;
    ALTER TABLE idempotency_keys DROP COLUMN claim_id, DROP COLUMN renewed_at, DROP COLUMN attempts;
  `);
};
