import type { Redis } from 'ioredis';
import { CACHE_TTL_SECONDS, type Cache } from './cache.js';

const PREFIX = 'taskflow:cache:';
const GEN = 'taskflow:gen:';
const EPOCH = `${GEN}__epoch`;

/**
 * The Redis cache of the scale-out mode, shared by every instance. Any Redis error makes the
 * operation a miss (reads go to PostgreSQL); after an outage the epoch is bumped, so entries
 * that missed an invalidation while Redis was away are never served.
 */
export const createRedisCache = (redis: Redis): Cache => {
  let hits = 0;
  let misses = 0;
  let hadError = false;
  // An invalidation that failed leaves entries that must not be served: bump the epoch as soon
  // as Redis answers again.
  let epochOwed = false;
  const payEpoch = async () => {
    if (!epochOwed) return;
    await redis.incr(EPOCH);
    epochOwed = false;
  };
  redis.on('error', () => (hadError = true));
  redis.on('ready', () => {
    if (!hadError) return;
    hadError = false;
    void redis.incr(EPOCH).catch(() => undefined);
  });

  return {
    async read(key, scopes) {
      try {
        await payEpoch();
        const [entry, ...generations] = await redis.mget(PREFIX + key, EPOCH, ...scopes.map((s) => GEN + s));
        const stamp = generations.map((g) => g ?? '0').join('.');
        if (entry) {
          const parsed = JSON.parse(entry) as { stamp: string; value: unknown };
          if (parsed.stamp === stamp) {
            hits++;
            return { hit: true, value: parsed.value };
          }
        }
        misses++;
        return { hit: false, stamp };
      } catch {
        misses++;
        return { hit: false, stamp: null };
      }
    },
    async write(key, value, stamp) {
      await redis.set(PREFIX + key, JSON.stringify({ stamp, value }), 'EX', CACHE_TTL_SECONDS).catch(() => undefined);
    },
    async invalidate(scopes) {
      if (scopes.length === 0) return;
      const pipeline = redis.multi();
      // Generations outlive every entry stamped with them, so a reset can never match an old stamp.
      for (const scope of scopes) pipeline.incr(GEN + scope).expire(GEN + scope, CACHE_TTL_SECONDS * 2);
      try {
        await pipeline.exec();
      } catch {
        epochOwed = true;
      }
    },
    async invalidateAll() {
      epochOwed = true;
      await payEpoch().catch(() => undefined);
    },
    stats: () => ({ hits, misses }),
    async close() {},
  };
};
