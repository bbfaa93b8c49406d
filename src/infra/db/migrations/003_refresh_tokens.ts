import type { Knex } from 'knex';

// Refresh tokens are session state, not domain facts: they live in a plain table, stored hashed.
export const up = async (knex: Knex): Promise<void> => {
  await knex.raw(`
    CREATE TABLE refresh_tokens (
      id uuid PRIMARY KEY,
      family_id uuid NOT NULL,
      user_id uuid NOT NULL,
      token_hash text NOT NULL,
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      revoked_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
    CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);
  `);
};

export const down = async (knex: Knex): Promise<void> => {
  await knex.raw('DROP TABLE refresh_tokens');
};
