import type { Knex } from 'knex';

// The gap-safe read lets a running transaction that holds no lock on `events` pass, because it
// can never commit an event before the reader's position: that is only true if an append cannot
// come from a transaction that already has a transaction id (it would carry an old id into the
// log). So an append must be the first write of its transaction, which takes its id in the append.
export const up = async (knex: Knex): Promise<void> => {
  await knex.raw(`
    CREATE FUNCTION events_append_first_write() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'an append to the event log must be the first write of its transaction'
          USING ERRCODE = 'P0001', HINT = 'append in a transaction of its own, before any other write';
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER events_append_first_write BEFORE INSERT ON events
      FOR EACH STATEMENT EXECUTE FUNCTION events_append_first_write();
  `);
};

export const down = async (knex: Knex): Promise<void> => {
  await knex.raw(`
    DROP TRIGGER events_append_first_write ON events;
    DROP FUNCTION events_append_first_write();
  `);
};
