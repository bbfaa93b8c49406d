import type { Redis } from 'ioredis';
import { fromPositionKey, positionKey } from '../cache/cache.js';
import { defineRaiseTo } from '../cache/raiseTo.js';
import type { WritePositions } from './positions.js';

/** Longer than any wait for a projection that still works: a position older than this was projected. */
const TTL_SECONDS = 600;
/** After Redis failed, this instance asks PostgreSQL for a while: writes meanwhile went there only. */
const DEGRADED_MS = 60_000;

/**
 * Positions in Redis in front of PostgreSQL. Every note goes to both; a lookup asks Redis (sent in
 * the same round trip as the query cache's read, ioredis pipelines them), and PostgreSQL while
 * Redis is failing or was failing a moment ago.
 */
export const createRedisWritePositions = (redis: Redis, durable: WritePositions, { namespace = 'taskflow' }: { namespace?: string } = {}): WritePositions => {
  const raiseTo = defineRaiseTo(redis);
  const keyOf = (userId: string) => `${namespace}:ryw:${userId}`;
  let failedAt = -Infinity;
  redis.on('error', () => (failedAt = performance.now()));
  const degraded = () => performance.now() - failedAt < DEGRADED_MS || redis.status !== 'ready';

  return {
    async note(userId, position) {
      await Promise.all([
        durable.note(userId, position),
        raiseTo([keyOf(userId)], positionKey(position), TTL_SECONDS).catch(() => (failedAt = performance.now())),
      ]);
    },
    async lookup(userId) {
      if (degraded()) return durable.lookup(userId);
      try {
        const value = await redis.get(keyOf(userId));
        return value ? fromPositionKey(value) : null;
      } catch {
        failedAt = performance.now();
        return durable.lookup(userId);
      }
    },
    recent: (seconds) => durable.recent(seconds),
  };
};
