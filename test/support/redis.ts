import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

export type TestRedis = Readonly<{ url: string; stop: () => Promise<void> }>;

export const NO_REDIS_REASON = 'skipped: no REDIS_URL and no redis-server on PATH';

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

export const hasRedisServer = () => spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

/** Parallel test files share one Redis: each takes a database of its own (1–15) unless the URL names one. */
const withRandomDb = (url: string) => {
  const u = new URL(url);
  if (u.pathname === '' || u.pathname === '/') u.pathname = `/${1 + Math.floor(Math.random() * 15)}`;
  return u.toString();
};

const waitUntilReady = async (url: string, child: ChildProcess, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // not listening yet
    } finally {
      probe.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`redis-server did not start within ${timeoutMs} ms`);
    await sleep(50);
  }
};

/** A redis-server of this test's own, on a free port, with no persistence; stopped by `stop`. */
export const startRedisServer = async (port?: number): Promise<TestRedis & { port: number }> => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'taskflow-redis-'));
  const chosen = port ?? (await freePort());
  const child = spawn('redis-server', ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: 'ignore',
  });
  const url = `redis://127.0.0.1:${chosen}`;
  try {
    await waitUntilReady(url, child);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url,
    port: chosen,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
};

/**
 * REDIS_URL when set (CI), else a redis-server started from PATH, else null: the caller skips
 * with NO_REDIS_REASON.
 */
export const redisForTests = async (): Promise<TestRedis | null> => {
  const given = process.env.REDIS_URL;
  if (given) return { url: withRandomDb(given), stop: async () => {} };
  if (!hasRedisServer()) return null;
  const server = await startRedisServer();
  return { url: withRandomDb(server.url), stop: server.stop };
};

/** A client as `src/compose.ts` builds it: fail fast rather than queue when Redis is away. */
export const connectTestRedis = (url: string, options: { lazyConnect?: boolean } = {}) => {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 500, connectTimeout: 2000, ...options });
  redis.on('error', () => undefined);
  return redis;
};

/** Resolves once the client can take commands (with the offline queue off, earlier ones fail). */
export const readyRedis = async (url: string) => {
  const redis = connectTestRedis(url);
  if (redis.status !== 'ready') await new Promise<void>((resolve, reject) => {
    redis.once('ready', resolve);
    setTimeout(() => reject(new Error(`redis at ${url} not ready`)), 5000).unref();
  });
  return redis;
};
