import type { Knex } from 'knex';

// Read-your-writes across instances: the highest log position each user's writes reached, where
// every instance sees it; and the API instances alive, so one that is alone can trust what it saw.
export const up = async (knex: Knex): Promise<void> => {
  await knex.raw(`
    CREATE TABLE user_write_positions (
      user_id uuid PRIMARY KEY,
      tx bigint NOT NULL,
      pos bigint NOT NULL,
      written_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX user_write_positions_written ON user_write_positions (written_at);

    CREATE TABLE api_instances (
      id text PRIMARY KEY,
      started_at timestamptz NOT NULL DEFAULT now(),
      heartbeat_at timestamptz NOT NULL DEFAULT now()
    );
  `);
};

export const down = async (knex: Knex): Promise<void> => {
  await knex.raw('DROP TABLE user_write_positions, api_instances');
};
