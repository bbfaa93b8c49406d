import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import Redlock, { type Lock } from 'redlock';
import { leaseOf, type LeaderLock, type Lease, type LockSettings } from './lock.js';

/**
 * redlock on Redis: a lease of `leaseMs`, extended every third of it; a failed extension means
 * the lease may already be someone else's, so it is reported lost at once.
 */
export const createRedisLock = (knex: Knex, redis: Redis, settings: LockSettings): LeaderLock => {
  const redlock = new Redlock([redis], { retryCount: 0, driftFactor: 0.01 });
  redlock.on('error', () => undefined);
  const held = new Set<Lease>();
  return {
    async tryAcquire(name) {
      let lock: Lock;
      try {
        lock = await redlock.acquire([`taskflow:lock:${name}`], settings.leaseMs);
      } catch {
        return null;
      }
      // Releasing checks the lock's value, so a late release never frees a newer holder's lock.
      return leaseOf(
        knex,
        name,
        settings,
        { renew: async () => void (lock = await lock.extend(settings.leaseMs)), release: async () => void (await lock.release()) },
        held,
      );
    },
    async close() {
      await Promise.all([...held].map((lease) => lease.release()));
    },
  };
};
