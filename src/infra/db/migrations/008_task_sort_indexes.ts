import type { Knex } from 'knex';

// Lists sort with NULLS LAST in both directions; an ascending index only serves ASC NULLS LAST,
// so descending due-date pages sorted every matching row. These serve the descending orders.
export const up = async (knex: Knex): Promise<void> => {
  await knex.raw(`
    CREATE INDEX tasks_due_desc ON tasks (due_date DESC NULLS LAST, id DESC);
    CREATE INDEX tasks_status_due_desc ON tasks (status, due_date DESC NULLS LAST, id DESC);
    CREATE INDEX tasks_user_due_desc ON tasks (user_id, due_date DESC NULLS LAST, id DESC);
    CREATE INDEX tasks_priority_desc ON tasks (priority_rank DESC, id DESC);
  `);
};

export const down = async (knex: Knex): Promise<void> => {
  await knex.raw('DROP INDEX tasks_due_desc, tasks_status_due_desc, tasks_user_due_desc, tasks_priority_desc');
};
