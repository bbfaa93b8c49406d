import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareLogPositions, type LogPosition } from '../../src/domain/event.js';
import { cached, type Cache, type CacheStamp } from '../../src/infra/cache/cache.js';

export type CacheFixture = Readonly<{ cache: Cache; dispose: () => Promise<void> }>;

/** Keys and scopes of one test: adapters that share a server never see each other's. */
const fresh = () => {
  const id = randomUUID();
  return { key: `contract:${id}`, scope: `contract-scope:${id}`, other: `contract-other:${id}` };
};

/** Log positions of the tests: each test takes its own, later ones. */
let counter = 0;
export const nextPosition = (): LogPosition => {
  counter += 10;
  return { tx: BigInt(counter), pos: BigInt(counter) };
};

/** Reads a miss and returns its stamp; a miss on a healthy cache always has one. */
export const missStamp = async (cache: Cache, key: string, scopes: readonly string[]): Promise<CacheStamp> => {
  const found = await cache.read(key, scopes);
  expect(found.hit, `${key} should miss`).toBe(false);
  expect(found.stamp).not.toBeNull();
  return found.stamp!;
};

export const expectHit = async (cache: Cache, key: string, scopes: readonly string[], value: unknown) => {
  const found = await cache.read(key, scopes);
  expect(found.hit, `${key} should hit`).toBe(true);
  expect((found as { value: unknown }).value).toEqual(value);
  return found as Extract<typeof found, { hit: true }>;
};

export const expectMiss = async (cache: Cache, key: string, scopes: readonly string[]) =>
  expect((await cache.read(key, scopes)).hit, `${key} should miss`).toBe(false);

/** The projector's two steps around one batch's commit. */
export const commitChange = async (cache: Cache, scopes: readonly string[], to = nextPosition()) => {
  await cache.invalidate(scopes, to);
  await cache.committed(scopes, to);
  return to;
};

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

    it('misses, then hits what was written under the stamp, as a copy of its own, with the position it reflects', async () => {
      const { key, scope } = fresh();
      const stamp = await missStamp(cache, key, [scope]);
      const value = { id: key, title: 'Write the tests', tags: ['a', 'b'], nested: { n: 1, none: null }, count: 3 };
      await cache.write(key, value, stamp);
      const expected = structuredClone(value);
      value.nested.n = 99;
      value.tags.push('changed after write');

      const first = await expectHit(cache, key, [scope], expected);
      expect(compareLogPositions(first.at, stamp.at)).toBe(0);
      const copy = first.value as typeof value;
      copy.nested.n = 42;
      copy.tags.length = 0;
      await expectHit(cache, key, [scope], expected);
    });

    it('misses an entry from the moment a batch changing one of its scopes is about to commit', async () => {
      const { key, scope, other } = fresh();
      await cache.write(key, { v: 1 }, await missStamp(cache, key, [scope, other]));
      await expectHit(cache, key, [scope, other], { v: 1 });

      const to = nextPosition();
      await cache.invalidate([other], to);
      await expectMiss(cache, key, [scope, other]);
      // A reader that loads before the commit reads old data: it never matches, even written late.
      await cache.write(key, { v: 1 }, await missStamp(cache, key, [scope, other]));
      await expectMiss(cache, key, [scope, other]);

      await cache.committed([other], to);
      const after = await missStamp(cache, key, [scope, other]);
      expect(compareLogPositions(after.at, to)).toBeGreaterThanOrEqual(0);
      await cache.write(key, { v: 2 }, after);
      await expectHit(cache, key, [scope, other], { v: 2 });
    });

    it('stays missed when the projector crashed between marking the change and committing it', async () => {
      const { key, scope } = fresh();
      await cache.write(key, { v: 'old' }, await missStamp(cache, key, [scope]));
      await cache.invalidate([scope], nextPosition()); // ... and no committed(): the process died
      await cache.write(key, { v: 'old' }, await missStamp(cache, key, [scope]));
      await expectMiss(cache, key, [scope]);
      // The next owner projects the batch again and commits it.
      await commitChange(cache, [scope]);
      await cache.write(key, { v: 'new' }, await missStamp(cache, key, [scope]));
      await expectHit(cache, key, [scope], { v: 'new' });
    });

    it('leaves entries of unrelated scopes alone', async () => {
      const a = fresh();
      const b = fresh();
      await cache.write(a.key, 'a', await missStamp(cache, a.key, [a.scope]));
      await cache.write(b.key, 'b', await missStamp(cache, b.key, [b.scope]));
      await commitChange(cache, [a.scope]);
      await expectMiss(cache, a.key, [a.scope]);
      await expectHit(cache, b.key, [b.scope], 'b');
      await commitChange(cache, []);
      await expectHit(cache, b.key, [b.scope], 'b');
    });

    it('stamps loads with a committed position it was told of, and serves cached() only entries that reflect the caller\'s own write', async () => {
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

      // The caller's write at `mine` was projected (its scopes elsewhere): the old entry will not do.
      const mine = nextPosition();
      expect(await cached(cache, key, [scope], load, { atLeast: mine })).toEqual({ version: 2 });
      expect(await cached(cache, key, [scope], load, { atLeast: mine })).toEqual({ version: 2 });
      expect(loads).toBe(2);

      const seen = nextPosition();
      cache.observed(seen);
      expect(compareLogPositions((await cache.read(`${key}:other`, [scope])).stamp!.at, seen)).toBeGreaterThanOrEqual(0);
    });

    it('misses everything after invalidateAll', async () => {
      const { key, scope } = fresh();
      await cache.write(key, 1, await missStamp(cache, key, [scope]));
      const stale = await missStamp(cache, `${key}:late`, [scope]);
      await cache.invalidateAll();
      await expectMiss(cache, key, [scope]);
      await cache.write(`${key}:late`, 1, stale);
      await expectMiss(cache, `${key}:late`, [scope]);
    });

    it('counts hits and misses', async () => {
      const { key, scope } = fresh();
      const start = cache.stats();
      await cache.write(key, 1, await missStamp(cache, key, [scope]));
      await cache.read(key, [scope]);
      await cache.read(key, [scope]);
      expect(cache.stats()).toEqual({ hits: start.hits + 2, misses: start.misses + 1 });
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
