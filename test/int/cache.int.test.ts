import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cached, type Cache } from '../../src/infra/cache/cache.js';
import { createMemoryCache } from '../../src/infra/cache/memory.js';
import { CACHE_CHANNEL, cacheChangePayload, createPgInvalidationBus } from '../../src/infra/cache/pgBus.js';
import { compareLogPositions } from '../../src/domain/event.js';
import { createRedisCache } from '../../src/infra/cache/redis.js';
import { createPgPool } from '../../src/infra/db/knex.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually } from '../support/process.js';
import { connectTestRedis, freePort, hasRedisServer, NO_REDIS_REASON, readyRedis, redisForTests, startRedisServer } from '../support/redis.js';
import { cacheContract, commitChange, expectHit, expectMiss, missStamp, nextPosition } from './cache.contract.js';

const redis = await redisForTests();
if (!redis) console.log(`[Redis cache tests] ${NO_REDIS_REASON}`);
afterAll(() => redis?.stop());
const skipReason = (available: unknown, reason = NO_REDIS_REASON) => (available ? '' : ` (${reason})`);

cacheContract('in-process LRU', async () => {
  const cache = createMemoryCache();
  return { cache, dispose: () => cache.close() };
});

describe('in-process LRU size', () => {
  it('keeps entries up to a total size of JSON, dropping the least recently used first', async () => {
    const cache = createMemoryCache({ maxChars: 1000 });
    const keys = ['a', 'b', 'c'].map((k) => `size:${k}`);
    for (const key of keys) await cache.write(key, 'x'.repeat(400), await missStamp(cache, key, ['s']));
    await expectMiss(cache, keys[0]!, ['s']);
    await expectHit(cache, keys[1]!, ['s'], 'x'.repeat(400));
    await expectHit(cache, keys[2]!, ['s'], 'x'.repeat(400));
  });
});

if (!redis)
  describe.skip(`Cache contract: Redis (${NO_REDIS_REASON})`, () => {
    it('runs the shared cache contract against Redis', () => undefined);
  });
else
  cacheContract('Redis', async () => {
    const client = await readyRedis(redis.url);
    const cache = createRedisCache(client, { namespace: `test-${randomUUID()}` });
    return {
      cache,
      dispose: async () => {
        await cache.close();
        client.disconnect();
      },
    };
  });

const scoped = () => ({ key: `k:${randomUUID()}`, scope: `s:${randomUUID()}` });

describe('in-process caches of two instances joined by PostgreSQL LISTEN/NOTIFY', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let buses: ReturnType<typeof createPgInvalidationBus>[];
  let one: Cache;
  let two: Cache;
  const listeners = async () =>
    Number(
      (
        await db.knex.raw(
          `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'taskflow-cache-bus' AND datname = current_database() AND query ILIKE 'LISTEN%'`,
        )
      ).rows[0].n,
    );
  /** What the projector's batch commit does: mark the change here, then NOTIFY inside the commit. */
  const commitWithNotify = async (scopes: readonly string[], to = nextPosition(), outcome: 'COMMIT' | 'ROLLBACK' = 'COMMIT') => {
    await one.invalidate(scopes, to);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_notify($1, $2)', [CACHE_CHANNEL, cacheChangePayload(scopes, to)]);
      await client.query(outcome);
    } finally {
      client.release();
    }
    if (outcome === 'COMMIT') await one.committed(scopes, to);
    return to;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPgPool(db.url, 4);
    buses = [createPgInvalidationBus(pool, db.url), createPgInvalidationBus(pool, db.url)];
    [one, two] = buses.map((bus) => createMemoryCache({ bus }));
    await eventually(async () => (await listeners()) === 2 && buses.every((b) => b.listening()), 5000, 'both instances to LISTEN');
  });
  afterAll(async () => {
    await Promise.all(buses?.map((b) => b.close()) ?? []);
    await pool?.end();
    await db?.drop();
  });

  it('makes an entry in the other instance miss once the change commits, and raises its stamps to the commit', async () => {
    const { key, scope } = scoped();
    await two.write(key, { v: 'old' }, await missStamp(two, key, [scope]));
    // A reader that read before the change, and will write what it loaded late.
    const stale = (await expectHit(two, key, [scope], { v: 'old' })).stamp;

    const to = await commitWithNotify([scope]);
    await expectMiss(one, key, [scope]);
    await eventually(async () => !(await two.read(key, [scope])).hit, 2000, 'the change to reach the other instance');
    // A late write of what was read before the change misses in both.
    await two.write(key, { v: 'old' }, stale);
    await expectMiss(two, key, [scope]);
    const current = await missStamp(two, key, [scope]);
    expect(compareLogPositions(current.at, to)).toBeGreaterThanOrEqual(0);
    await two.write(key, { v: 'new' }, current);
    await expectHit(two, key, [scope], { v: 'new' });
  });

  it('hears nothing of a batch that rolled back, and leaves unrelated scopes alone', async () => {
    const a = scoped();
    const b = scoped();
    await two.write(a.key, 'a', await missStamp(two, a.key, [a.scope]));
    await two.write(b.key, 'b', await missStamp(two, b.key, [b.scope]));
    await commitWithNotify([a.scope], nextPosition(), 'ROLLBACK');
    await commitWithNotify([`s:${randomUUID()}`]);
    await new Promise((r) => setTimeout(r, 200));
    await expectHit(two, a.key, [a.scope], 'a');
    await commitWithNotify([a.scope]);
    await eventually(async () => !(await two.read(a.key, [a.scope])).hit, 2000, 'the change to arrive');
    await expectHit(two, b.key, [b.scope], 'b');
  });

  it('forgets everything when a batch changed more scopes than one NOTIFY payload holds', async () => {
    const scopes = Array.from({ length: 400 }, () => `s:${randomUUID()}`);
    const { key, scope } = scoped();
    await two.write(key, 'x', await missStamp(two, key, [scope]));
    await commitWithNotify(scopes);
    await eventually(async () => !(await two.read(key, [scope])).hit, 2000, 'every entry to be forgotten');
  });

  it('serves nothing while its LISTEN connection is down, and nothing from before once it listens again', async () => {
    const { key, scope } = scoped();
    await two.write(key, { v: 'old' }, await missStamp(two, key, [scope]));
    await db.knex.raw(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'taskflow-cache-bus' AND datname = current_database()`,
    );
    await eventually(async () => !buses[1]!.listening(), 2000, 'the bus to notice');
    expect(await two.read(key, [scope])).toEqual({ hit: false, stamp: null });
    await commitWithNotify([scope]);
    await eventually(async () => (await listeners()) === 2 && buses[1]!.listening(), 5000, 'both instances to LISTEN again');
    await expectMiss(two, key, [scope]);
  });
});

describe.skipIf(!redis)(`Redis cache shared by two instances${skipReason(redis)}`, () => {
  let clients: Redis[];
  let one: Cache;
  let two: Cache;
  beforeAll(async () => {
    clients = await Promise.all([readyRedis(redis!.url), readyRedis(redis!.url)]);
    const namespace = `test-${randomUUID()}`;
    [one, two] = clients.map((c) => createRedisCache(c, { namespace }));
  });
  afterAll(() => clients?.forEach((c) => c.disconnect()));

  it('serves in one instance what the other wrote, and misses everywhere at once when a change is about to commit', async () => {
    const { key, scope } = scoped();
    const stale = await missStamp(two, key, [scope]);
    await one.write(key, { v: 1 }, await missStamp(one, key, [scope]));
    await expectHit(two, key, [scope], { v: 1 });
    const to = nextPosition();
    await one.invalidate([scope], to);
    await expectMiss(two, key, [scope]);
    await two.write(key, { v: 1 }, stale);
    await expectMiss(one, key, [scope]);
    await one.committed([scope], to);
    // Another instance learns the committed position from Redis.
    expect(compareLogPositions((await missStamp(two, key, [scope])).at, to)).toBeGreaterThanOrEqual(0);
  });

  it('misses an entry written late when Redis lost its data between the change and the commit', async () => {
    const { key, scope } = scoped();
    await one.write(key, { v: 'old' }, await missStamp(one, key, [scope]));
    const stale = (await expectHit(two, key, [scope], { v: 'old' })).stamp;
    const to = nextPosition();
    await one.invalidate([scope], to);
    await clients[0]!.flushdb();
    await two.write(key, { v: 'old' }, stale);
    await one.committed([scope], to);
    await expectMiss(one, key, [scope]);
  });
});

/** A TCP server that takes connections and never says a word: a hung Redis. */
const startMuteServer = async () => {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => resolve());
      }),
  };
};

/** Reads, writes and invalidates against an unreachable Redis: all degrade, none throws or hangs. */
const expectDegraded = async (cache: Cache) => {
  const { key, scope } = scoped();
  const started = Date.now();
  expect(await cache.read(key, [scope])).toEqual({ hit: false, stamp: null });
  expect(Date.now() - started).toBeLessThan(1500);
  await expect(cache.write(key, { v: 1 }, { epoch: '0', at: nextPosition() })).resolves.toBeUndefined();
  let loads = 0;
  const load = async () => ({ loads: ++loads });
  expect(await cached(cache, key, [scope], load)).toEqual({ loads: 1 });
  expect(await cached(cache, key, [scope], load)).toEqual({ loads: 2 });
  expect(Date.now() - started).toBeLessThan(3000);
};

describe('Redis cache during a Redis outage', () => {
  it('degrades to misses when nothing listens on the Redis port', async () => {
    const client = connectTestRedis(`redis://127.0.0.1:${await freePort()}`);
    try {
      await expectDegraded(createRedisCache(client));
    } finally {
      client.disconnect();
    }
  });

  it('degrades to misses when Redis takes connections but never answers', async () => {
    const mute = await startMuteServer();
    const client = connectTestRedis(mute.url);
    try {
      await expectDegraded(createRedisCache(client));
    } finally {
      client.disconnect();
      await mute.close();
    }
  });

  it('does not throw from invalidate() or committed() when Redis is away', async () => {
    const client = connectTestRedis(`redis://127.0.0.1:${await freePort()}`);
    try {
      const cache = createRedisCache(client);
      await expect(cache.invalidate([`s:${randomUUID()}`], nextPosition())).resolves.toBeUndefined();
      await expect(cache.committed([`s:${randomUUID()}`], nextPosition())).resolves.toBeUndefined();
    } finally {
      client.disconnect();
    }
  });

  it.skipIf(!hasRedisServer())(
    `degrades while its redis-server is down and caches again once it is back${skipReason(hasRedisServer(), 'skipped: no redis-server on PATH')}`,
    async () => {
      let server = await startRedisServer();
      const client = await readyRedis(server.url);
      const cache = createRedisCache(client);
      try {
        const { key, scope } = scoped();
        await cache.write(key, 'cached', await missStamp(cache, key, [scope]));
        await expectHit(cache, key, [scope], 'cached');

        await server.stop();
        await expectDegraded(cache);
        await commitChange(cache, [scope]);

        server = await startRedisServer(server.port);
        await eventually(async () => client.status === 'ready', 10_000, 'the client to reconnect');
        // The reconnect bumps the epoch in the background: a stamp read before that may not stick.
        await eventually(
          async () => {
            const found = await cache.read(key, [scope]);
            if (!found.hit && found.stamp !== null) await cache.write(key, 'again', found.stamp);
            return found.hit && found.value === 'again';
          },
          5000,
          'caching to work again',
        );
      } finally {
        client.disconnect();
        await server.stop();
      }
    },
  );
});
