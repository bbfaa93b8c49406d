import type { Knex } from 'knex';

// NOTIFY inside the appending transaction takes a database-wide lock from pre-commit to the end
// of the commit, which serialises every append (no group commit). Appenders now notify after
// their commit instead, coalesced (see infra/eventstore/postgres.ts).
export const up = async (knex: Knex): Promise<void> => {
  await knex.raw(`
    DROP TRIGGER IF EXISTS events_notify ON events;
    DROP FUNCTION IF EXISTS events_notify();
  `);
};

export const down = async (knex: Knex): Promise<void> => {
  await knex.raw(`
    CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('taskflow_events', '');
      RETURN NULL;
    END $$;
    CREATE TRIGGER events_notify AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION events_notify();
  `);
};
