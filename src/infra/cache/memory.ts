import { LRUCache } from 'lru-cache';
import { ALL_SCOPES, CACHE_TTL_SECONDS, type Cache } from './cache.js';

/** Carries invalidations between instances that share a database but no Redis. */
export type InvalidationBus = Readonly<{
  publish: (scopes: readonly string[]) => Promise<void>;
  subscribe: (handler: (scopes: readonly string[]) => void) => void;
}>;

const MAX_GENERATIONS = 200_000;
/** A bound in characters of JSON (about bytes): a count alone would let 10,000 large pages through. */
const MAX_CHARS = 32 * 1024 * 1024;

/** The in-process LRU cache of the embedded default. */
export const createMemoryCache = (options: { maxEntries?: number; maxChars?: number; bus?: InvalidationBus } = {}): Cache => {
  // Values are kept as JSON text, so every reader gets its own copy and each entry has a size.
  const entries = new LRUCache<string, { stamp: string; json: string }>({
    max: options.maxEntries ?? 10_000,
    maxSize: options.maxChars ?? MAX_CHARS,
    sizeCalculation: (entry) => entry.json.length + entry.stamp.length,
    ttl: CACHE_TTL_SECONDS * 1000,
  });
  let generations = new Map<string, number>();
  // Forgetting generations would let an old stamp match again: start a new epoch instead.
  let epoch = 0;
  let hits = 0;
  let misses = 0;

  const reset = () => {
    generations = new Map();
    entries.clear();
    epoch++;
  };
  // A scope gets a generation when a stamp is first taken with it, so scopes nobody reads (every
  // task just created) take no memory: no entry can depend on a scope that was never stamped.
  const generationOf = (scope: string) => {
    const generation = generations.get(scope);
    if (generation !== undefined) return generation;
    generations.set(scope, 0);
    return 0;
  };
  const bump = (scopes: readonly string[]) => {
    if (scopes.includes(ALL_SCOPES)) return reset();
    for (const scope of scopes) {
      const generation = generations.get(scope);
      if (generation !== undefined) generations.set(scope, generation + 1);
    }
  };
  const stampOf = (scopes: readonly string[]) => {
    if (generations.size > MAX_GENERATIONS) reset();
    return [epoch, ...scopes.map(generationOf)].join('.');
  };
  options.bus?.subscribe(bump);

  return {
    async read(key, scopes) {
      const stamp = stampOf(scopes);
      const entry = entries.get(key);
      if (entry && entry.stamp === stamp) {
        hits++;
        return { hit: true, value: JSON.parse(entry.json) };
      }
      misses++;
      return { hit: false, stamp };
    },
    async write(key, value, stamp) {
      entries.set(key, { stamp, json: JSON.stringify(value) });
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
