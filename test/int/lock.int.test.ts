import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresLock } from '../../src/infra/lock/postgres.js';
import { createRedisLock } from '../../src/infra/lock/redis.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { NO_REDIS_REASON, readyRedis, redisForTests } from '../support/redis.js';
import { leaderLockContract } from './lock.contract.js';

leaderLockContract('PostgreSQL advisory lock', async () => {
  const db = await createTestDatabase();
  return {
    knex: db.knex,
    newLock: async (settings) => createPostgresLock(db.knex, db.url, settings),
    async sever(instanceId) {
      // What an operator, a failover or a dead network does to the holder's session.
      const { rows } = await db.knex.raw(
        'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = ? AND datname = current_database()',
        [`taskflow-lock:${instanceId}`],
      );
      expect(rows.length, `no lock connection of ${instanceId}`).toBeGreaterThan(0);
    },
    dispose: () => db.drop(),
  };
});

const redis = await redisForTests();
if (!redis) console.log(`[redlock lock tests] ${NO_REDIS_REASON}`);
afterAll(() => redis?.stop());

if (!redis)
  describe.skip(`LeaderLock contract: redlock on Redis (${NO_REDIS_REASON})`, () => {
    it('runs the shared lock contract against redlock', () => undefined);
  });
else {
  leaderLockContract('redlock on Redis', async () => {
    const db = await createTestDatabase();
    const clients = new Map<string, Redis>();
    return {
      knex: db.knex,
      async newLock(settings) {
        const client = await readyRedis(redis.url);
        clients.set(settings.instanceId, client);
        return createRedisLock(db.knex, client, settings);
      },
      // The instance can no longer reach Redis: its renewals fail and its key runs out.
      sever: async (instanceId) => clients.get(instanceId)!.disconnect(),
      async dispose() {
        for (const client of clients.values()) client.disconnect();
        await db.drop();
      },
    };
  });
}

describe.skipIf(!redis)(`redlock on Redis: a lock key that vanishes${redis ? '' : ` (${NO_REDIS_REASON})`}`, () => {
  const LEASE_MS = 1000;
  let db: TestDatabase;
  let clients: Redis[];
  beforeAll(async () => {
    db = await createTestDatabase();
    clients = await Promise.all([1, 2, 3, 4].map(() => readyRedis(redis!.url)));
  });
  afterAll(async () => {
    clients?.forEach((c) => c.disconnect());
    await db?.drop();
  });

  it('reports the holder lost within a renewal period and never frees the new holder\'s lock', async () => {
    const [admin, ca, cb, cc] = clients as [Redis, Redis, Redis, Redis];
    const name = `vanishing-${randomUUID()}`;
    const a = createRedisLock(db.knex, ca, { leaseMs: LEASE_MS, instanceId: 'a' });
    const b = createRedisLock(db.knex, cb, { leaseMs: LEASE_MS, instanceId: 'b' });
    const c = createRedisLock(db.knex, cc, { leaseMs: LEASE_MS, instanceId: 'c' });
    try {
      const held = (await a.tryAcquire(name))!;
      expect(held).not.toBeNull();
      expect(await admin.exists(`taskflow:lock:${name}`)).toBe(1);
      const deletedAt = Date.now();
      await admin.del(`taskflow:lock:${name}`);
      const taken = await b.tryAcquire(name);
      expect(taken).not.toBeNull();
      if (!held.lost.aborted) await new Promise((resolve) => held.lost.addEventListener('abort', resolve, { once: true }));
      expect(Date.now() - deletedAt).toBeLessThanOrEqual(LEASE_MS);
      expect(taken!.fencingToken > held.fencingToken).toBe(true);
      await held.release();
      expect(await c.tryAcquire(name)).toBeNull();
      expect(taken!.lost.aborted).toBe(false);
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });
});
