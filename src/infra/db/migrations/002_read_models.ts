import type { Knex } from 'knex';

export const up = async (knex: Knex): Promise<void> => {
  const { rows } = await knex.raw(`SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'`);
  const trigram = rows.length > 0;
  if (trigram) await knex.raw('CREATE EXTENSION IF NOT EXISTS pg_trgm');

  await knex.raw(`
    CREATE TABLE projection_checkpoints (
      name text PRIMARY KEY,
      tx bigint NOT NULL DEFAULT 0,
      pos bigint NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE tasks (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL,
      title text NOT NULL,
      description text,
      status text NOT NULL,
      priority text NOT NULL,
      priority_rank smallint NOT NULL,
      due_date timestamptz,
      is_overdue boolean NOT NULL,
      version integer NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    );
    -- Default listing (newest first) per owner and over everything, with id as a stable tie-breaker.
    CREATE INDEX tasks_user_created ON tasks (user_id, created_at DESC, id DESC);
    CREATE INDEX tasks_created ON tasks (created_at DESC, id DESC);
    CREATE INDEX tasks_user_status_created ON tasks (user_id, status, created_at DESC, id DESC);
    CREATE INDEX tasks_status_created ON tasks (status, created_at DESC, id DESC);
    CREATE INDEX tasks_updated ON tasks (updated_at DESC, id DESC);
    CREATE INDEX tasks_due ON tasks (due_date, id);
    CREATE INDEX tasks_priority ON tasks (priority_rank, id);
    CREATE INDEX tasks_title ON tasks (title, id);
    CREATE INDEX tasks_overdue ON tasks (user_id) WHERE is_overdue;

    CREATE TABLE task_stats (
      user_id uuid PRIMARY KEY,
      total integer NOT NULL DEFAULT 0,
      pending integer NOT NULL DEFAULT 0,
      in_progress integer NOT NULL DEFAULT 0,
      completed integer NOT NULL DEFAULT 0,
      high_priority integer NOT NULL DEFAULT 0,
      overdue integer NOT NULL DEFAULT 0
    );

    CREATE TABLE users (
      id uuid PRIMARY KEY,
      email text NOT NULL UNIQUE,
      name text NOT NULL,
      role text NOT NULL,
      version integer NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    );
    CREATE INDEX users_created ON users (created_at DESC, id DESC);
  `);
  if (trigram)
    await knex.raw(`
      CREATE INDEX tasks_title_trgm ON tasks USING gin (title gin_trgm_ops);
      CREATE INDEX tasks_description_trgm ON tasks USING gin (description gin_trgm_ops);
    `);
};

export const down = async (knex: Knex): Promise<void> => {
  await knex.raw('DROP TABLE users, task_stats, tasks, projection_checkpoints');
};
