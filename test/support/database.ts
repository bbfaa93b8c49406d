import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import pg from 'pg';
import { inject } from 'vitest';
import { createKnex } from '../../src/infra/db/knex.js';
import { migrateToLatest } from '../../src/infra/db/migrate.js';

export type TestDatabase = Readonly<{ url: string; knex: Knex; drop: () => Promise<void> }>;

const withDatabase = (url: string, database: string) => {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
};

/** A fresh, migrated database of its own for one test file. */
export const createTestDatabase = async (): Promise<TestDatabase> => {
  const adminUrl = inject('adminDatabaseUrl');
  const name = `tf_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = withDatabase(adminUrl, name);
  const knex = createKnex(url);
  await migrateToLatest(knex);
  return {
    url,
    knex,
    drop: async () => {
      await knex.destroy();
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
};
