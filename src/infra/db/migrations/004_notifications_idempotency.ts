import type { Knex } from 'knex';

export const up = async (knex: Knex): Promise<void> => {
  await knex.raw(`
    CREATE TABLE notifications (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL,
      type text NOT NULL,
      task_id uuid NOT NULL,
      created_at timestamptz NOT NULL
    );
    CREATE INDEX notifications_user_created ON notifications (user_id, created_at DESC, id DESC);

    -- The first response to each Idempotency-Key, per caller, kept for 24 hours.
    CREATE TABLE idempotency_keys (
      scope text NOT NULL,
      key text NOT NULL,
      request_hash text NOT NULL,
      status integer,
      headers jsonb,
      body text,
      created_at timestamptz NOT NULL DEFAULT now(),
      completed_at timestamptz,
      PRIMARY KEY (scope, key)
    );
    CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
  `);
};

export const down = async (knex: Knex): Promise<void> => {
  await knex.raw('DROP TABLE notifications, idempotency_keys');
};
