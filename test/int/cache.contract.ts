import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cached, type Cache } from '../../src/infra/cache/cache.js';

export type CacheFixture = Readonly<{ cache: Cache; dispose: () => Promise<void> }>;

/** Keys and scopes of one test: adapters that share a server never see each other's. */
const fresh = () => {
  const id = randomUUID();
  return { key: `contract:${id}`, scope: `contract-scope:${id}`, other: `contract-other:${id}` };
};

/** Reads a miss and returns its stamp; a miss on a healthy cache always has one. */
export const missStamp = async (cache: Cache, key: string, scopes: readonly string[]) => {
  const found = await cache.read(key, scopes);
  expect(found.hit, `${key} should miss`).toBe(false);
  const stamp = (found as { stamp: string | null }).stamp;
  expect(stamp).toEqual(expect.any(String));
  return stamp!;
};

export const expectHit = async (cache: Cache, key: string, scopes: readonly string[], value: unknown) =>
  expect(await cache.read(key, scopes)).toEqual({ hit: true, value });

export const expectMiss = async (cache: Cache, key: string, scopes: readonly string[]) =>
  expect((await cache.read(key, scopes)).hit, `${key} should miss`).toBe(false);

/** The behaviour every Cache adapter must have. */
export const cacheContract = (name: string, setup: () => Promise<CacheFixture>) =>
  describe(`Cache contract: ${name}`, () => {
    let fixture: CacheFixture;
    let cache: Cache;
    beforeAll(async () => {
      fixture = await setup();
      cache = fixture.cache;
    });
    afterAll(() => fixture?.dispose());

    it('misses, then hits what was written under the stamp, as a copy of its own', async () => {
      const { key, scope } = fresh();
      const stamp = await missStamp(cache, key, [scope]);
      const value = { id: key, title: 'Write the tests', tags: ['a', 'b'], nested: { n: 1, none: null }, count: 3 };
      await cache.write(key, value, stamp);
      const expected = structuredClone(value);
      value.nested.n = 99;
      value.tags.push('changed after write');

      const first = await cache.read(key, [scope]);
      expect(first).toEqual({ hit: true, value: expected });
      const copy = (first as { value: typeof value }).value;
      expect(copy).not.toBe(value);
      copy.nested.n = 42;
      copy.tags.length = 0;
      await expectHit(cache, key, [scope], expected);
    });

    it('misses every entry stamped before one of its scopes was invalidated', async () => {
      const { key, scope, other } = fresh();
      const before = await missStamp(cache, key, [scope, other]);
      await cache.write(key, { v: 1 }, before);
      await expectHit(cache, key, [scope, other], { v: 1 });

      await cache.invalidate([other]);
      const after = await missStamp(cache, key, [scope, other]);
      expect(after).not.toBe(before);
      await cache.write(key, { v: 2 }, after);
      await expectHit(cache, key, [scope, other], { v: 2 });
    });

    it('never hits a value written late under a stamp taken before an invalidation', async () => {
      const { key, scope } = fresh();
      await cache.write(key, { v: 'old' }, await missStamp(cache, key, [scope]));
      await cache.invalidate([scope]);
      // A reader loaded the old row just before the projector changed it, and writes it back now.
      const stale = await missStamp(cache, key, [scope]);
      await cache.invalidate([scope]);
      await cache.write(key, { v: 'old' }, stale);
      await expectMiss(cache, key, [scope]);

      const current = await missStamp(cache, key, [scope]);
      await cache.write(key, { v: 'new' }, current);
      await expectHit(cache, key, [scope], { v: 'new' });
    });

    it('leaves entries of unrelated scopes alone', async () => {
      const a = fresh();
      const b = fresh();
      await cache.write(a.key, 'a', await missStamp(cache, a.key, [a.scope]));
      await cache.write(b.key, 'b', await missStamp(cache, b.key, [b.scope]));
      await cache.invalidate([a.scope]);
      await expectMiss(cache, a.key, [a.scope]);
      await expectHit(cache, b.key, [b.scope], 'b');
      await cache.invalidate([]);
      await expectHit(cache, b.key, [b.scope], 'b');
    });

    it('counts hits and misses', async () => {
      const { key, scope } = fresh();
      const start = cache.stats();
      await cache.write(key, 1, await missStamp(cache, key, [scope]));
      await cache.read(key, [scope]);
      await cache.read(key, [scope]);
      expect(cache.stats()).toEqual({ hits: start.hits + 2, misses: start.misses + 1 });
    });

    it('serves cached() from the cache until invalidated, and from the source when bypassed', async () => {
      const { key, scope } = fresh();
      let version = 1;
      let loads = 0;
      const load = async () => {
        loads++;
        return { version };
      };
      expect(await cached(cache, key, [scope], load)).toEqual({ version: 1 });
      version = 2;
      expect(await cached(cache, key, [scope], load)).toEqual({ version: 1 });
      expect(loads).toBe(1);

      expect(await cached(cache, key, [scope], load, { bypass: true })).toEqual({ version: 2 });
      expect(await cached(cache, key, [scope], load, { bypass: true })).toEqual({ version: 2 });
      expect(loads).toBe(3);
      // A bypass neither reads nor replaces the entry.
      await expectHit(cache, key, [scope], { version: 1 });

      await cache.invalidate([scope]);
      expect(await cached(cache, key, [scope], load)).toEqual({ version: 2 });
      expect(loads).toBe(4);
    });

    it('does not keep a missing value', async () => {
      const { key, scope } = fresh();
      let loads = 0;
      const load = async () => {
        loads++;
        return null;
      };
      expect(await cached(cache, key, [scope], load)).toBeNull();
      expect(await cached(cache, key, [scope], load)).toBeNull();
      expect(loads).toBe(2);
    });
  });
