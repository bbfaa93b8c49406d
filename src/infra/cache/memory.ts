import { LRUCache } from 'lru-cache';
import { ALL_SCOPES, CACHE_TTL_SECONDS, type Cache } from './cache.js';

/** Carries invalidations between instances that share a database but no Redis. */
export type InvalidationBus = Readonly<{
  publish: (scopes: readonly string[]) => Promise<void>;
  subscribe: (handler: (scopes: readonly string[]) => void) => void;
}>;

const MAX_GENERATIONS = 200_000;

/** The in-process LRU cache of the embedded default. */
export const createMemoryCache = (options: { maxEntries?: number; bus?: InvalidationBus } = {}): Cache => {
  const entries = new LRUCache<string, { stamp: string; value: unknown }>({ max: options.maxEntries ?? 10_000, ttl: CACHE_TTL_SECONDS * 1000 });
  let generations = new Map<string, number>();
  // Forgetting generations would let an old stamp match again: start a new epoch instead.
  let epoch = 0;
  let hits = 0;
  let misses = 0;

  const bump = (scopes: readonly string[]) => {
    if (scopes.includes(ALL_SCOPES) || generations.size > MAX_GENERATIONS) {
      generations = new Map();
      entries.clear();
      epoch++;
    }
    for (const scope of scopes) generations.set(scope, (generations.get(scope) ?? 0) + 1);
  };
  const stampOf = (scopes: readonly string[]) => [epoch, ...scopes.map((s) => generations.get(s) ?? 0)].join('.');
  options.bus?.subscribe(bump);

  return {
    async read(key, scopes) {
      const stamp = stampOf(scopes);
      const entry = entries.get(key);
      if (entry && entry.stamp === stamp) {
        hits++;
        return { hit: true, value: structuredClone(entry.value) };
      }
      misses++;
      return { hit: false, stamp };
    },
    async write(key, value, stamp) {
      entries.set(key, { stamp, value: structuredClone(value) });
    },
    async invalidate(scopes) {
      if (scopes.length === 0) return;
      bump(scopes);
      // This instance's entries are stale from now on. Other instances hear of it a moment later:
      // the projector does not wait for that (a writer's own reads skip the cache meanwhile).
      options.bus?.publish(scopes).catch(() => undefined);
    },
    async invalidateAll() {
      bump([ALL_SCOPES]);
      await options.bus?.publish([ALL_SCOPES]);
    },
    stats: () => ({ hits, misses }),
    async close() {
      entries.clear();
    },
  };
};
