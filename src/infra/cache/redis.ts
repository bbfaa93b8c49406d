import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { laterPosition, LOG_START, type LogPosition } from '../../domain/event.js';
import { CACHE_TTL_SECONDS, fromPositionKey, positionKey, type Cache, type CacheStamp } from './cache.js';
import { defineRaiseTo } from './raiseTo.js';

/** Changes outlive every entry stamped before them, so a forgotten change can never let an old entry match. */
const CHANGE_TTL_SECONDS = CACHE_TTL_SECONDS * 2;

type StoredEntry = { e: string; at: string; v: unknown };

const newEpoch = () => randomBytes(8).toString('hex');

/**
 * The Redis cache of the scale-out mode, shared by every instance. Any Redis error makes the
 * operation a miss (reads go to PostgreSQL). Changes that could not be recorded, and a Redis that
 * restarted empty, both mean a new epoch: entries stamped before it never match again.
 */
export const createRedisCache = (redis: Redis, { namespace = 'taskflow' }: { namespace?: string } = {}): Cache => {
  const PREFIX = `${namespace}:cache:`;
  const CHANGE = `${namespace}:change:`;
  const EPOCH = `${namespace}:cache-epoch`;
  const COMMITTED = `${namespace}:cache-committed`;
  const raiseTo = defineRaiseTo(redis);
  let hits = 0;
  let misses = 0;
  let hadError = false;
  let epochOwed = false;
  let known: LogPosition = LOG_START;

  const payEpoch = async () => {
    if (!epochOwed) return;
    await redis.set(EPOCH, newEpoch());
    epochOwed = false;
  };
  redis.on('error', () => (hadError = true));
  redis.on('ready', () => {
    if (!hadError) return;
    hadError = false;
    epochOwed = true;
    void payEpoch().catch(() => undefined);
  });
  /** An empty Redis (first start, or restarted without persistence) gets an epoch no old stamp has. */
  const currentEpoch = async (seen: string | null) => {
    if (seen) return seen;
    await redis.set(EPOCH, newEpoch(), 'NX');
    return (await redis.get(EPOCH))!;
  };
  const recordChange = async (scopes: readonly string[], to: LogPosition, extra: string[] = []) => {
    try {
      await payEpoch();
      await raiseTo([...scopes.map((s) => CHANGE + s), ...extra], positionKey(to), CHANGE_TTL_SECONDS);
    } catch {
      epochOwed = true;
    }
  };

  return {
    async read(key, scopes) {
      try {
        await payEpoch();
        const [entry, epoch, committed, ...changes] = await redis.mget(PREFIX + key, EPOCH, COMMITTED, ...scopes.map((s) => CHANGE + s));
        const stamp: CacheStamp = { epoch: await currentEpoch(epoch ?? null), at: laterPosition(known, fromPositionKey(committed)) };
        if (entry) {
          const parsed = JSON.parse(entry) as StoredEntry;
          if (parsed.e === stamp.epoch && changes.every((at) => parsed.at >= (at ?? ''))) {
            hits++;
            return { hit: true, value: parsed.v, at: fromPositionKey(parsed.at), stamp };
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
      const entry: StoredEntry = { e: stamp.epoch, at: positionKey(stamp.at), v: value };
      await redis.set(PREFIX + key, JSON.stringify(entry), 'EX', CACHE_TTL_SECONDS).catch(() => undefined);
    },
    invalidate: (scopes, to) => (scopes.length ? recordChange(scopes, to) : Promise.resolve()),
    // Recorded again after the commit: a Redis that lost the first record in between has it now.
    async committed(scopes, to) {
      known = laterPosition(known, to);
      await recordChange(scopes, to, [COMMITTED]);
    },
    observed(to) {
      known = laterPosition(known, to);
    },
    async invalidateAll() {
      epochOwed = true;
      await payEpoch().catch(() => undefined);
    },
    stats: () => ({ hits, misses }),
    async close() {},
  };
};
