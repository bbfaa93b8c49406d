import type { Knex } from 'knex';

// A projection that cannot apply an event stops on it, visibly (projection_failures), until an
// operator retries or parks it (projection_operations, the log of what operators did). Beside
// it, each projection counts the events it consumed per range of the log
// (projection_event_counts, written in the statement that moves its checkpoint), and a
// reconciler records how those counts compare with the log (projection_completeness).
export const up = async (knex: Knex): Promise<void> => {
  await knex.raw(`
    CREATE TABLE projection_failures (
      projection text PRIMARY KEY,
      event_id uuid NOT NULL,
      tx bigint NOT NULL,
      pos bigint NOT NULL,
      stream_id text NOT NULL,
      stream_version integer NOT NULL,
      event_type text NOT NULL,
      error text NOT NULL,
      attempts integer NOT NULL,
      failed_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE projection_operations (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      projection text NOT NULL,
      action text NOT NULL CHECK (action IN ('retry', 'park')),
      event_id uuid,
      tx bigint,
      pos bigint,
      stream_id text,
      stream_version integer,
      event_type text,
      error text,
      reason text,
      operator text NOT NULL,
      at timestamptz NOT NULL DEFAULT now()
    );
    -- An event is parked once per projection; runners, rebuilds and verify read this set.
    CREATE UNIQUE INDEX projection_operations_parked ON projection_operations (projection, event_id) WHERE action = 'park';

    CREATE TABLE projection_event_counts (
      projection text NOT NULL,
      bucket bigint NOT NULL,
      events bigint NOT NULL,
      PRIMARY KEY (projection, bucket)
    );

    CREATE TABLE projection_completeness (
      projection text PRIMARY KEY,
      checked_at timestamptz NOT NULL,
      tx bigint NOT NULL,
      pos bigint NOT NULL,
      missing bigint NOT NULL,
      doubled bigint NOT NULL,
      buckets jsonb NOT NULL,
      sweep_next bigint NOT NULL DEFAULT 0
    );

    -- Counts cover the log after this position (0/0: all of it).
    ALTER TABLE projection_checkpoints
      ADD COLUMN counted_after_tx bigint NOT NULL DEFAULT 0,
      ADD COLUMN counted_after_pos bigint NOT NULL DEFAULT 0;
  `);
  // Existing checkpoints get the counts of the log they already passed, so no false alarm. A
  // checkpoint whose event is not in this table points into another log (EventStoreDB): its
  // counts start where it stands.
  await knex.raw(`
    UPDATE projection_checkpoints c SET counted_after_tx = c.tx, counted_after_pos = c.pos
    WHERE (c.tx, c.pos) > (0, 0)
      AND NOT EXISTS (SELECT 1 FROM events e WHERE e.transaction_id = c.tx::text::xid8 AND e.global_position = c.pos);

    INSERT INTO projection_event_counts (projection, bucket, events)
    SELECT c.name, e.global_position / 10000, count(*)
    FROM projection_checkpoints c
    JOIN events e ON (e.transaction_id, e.global_position) <= (c.tx::text::xid8, c.pos)
    WHERE (c.counted_after_tx, c.counted_after_pos) = (0, 0)
    GROUP BY 1, 2;
  `);
};

export const down = async (knex: Knex): Promise<void> => {
  await knex.raw(`
    DROP TABLE projection_failures, projection_operations, projection_event_counts, projection_completeness;
    ALTER TABLE projection_checkpoints DROP COLUMN counted_after_tx, DROP COLUMN counted_after_pos;
  `);
};
