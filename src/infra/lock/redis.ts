import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import Redlock, { type Lock } from 'redlock';
import { keepRenewed, recordLease, releaseLeaseRecord, renewLeaseRecord, type LeaderLock, type Lease, type LockSettings } from './lock.js';

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
      const fencingToken = await recordLease(knex, name, settings).catch(async (error) => {
        await lock.release().catch(() => undefined);
        throw error;
      });
      const controller = new AbortController();
      let ended = false;
      const stopRenewing = keepRenewed(
        settings.leaseMs,
        async () => {
          lock = await lock.extend(settings.leaseMs);
          return (await renewLeaseRecord(knex, name, settings, fencingToken)) === 1;
        },
        () => {
          controller.abort(new Error(`lost the lock ${name}`));
          ended = true;
          held.delete(lease);
        },
      );
      const lease: Lease = {
        name,
        fencingToken,
        lost: controller.signal,
        release: async () => {
          if (ended) return;
          ended = true;
          stopRenewing();
          held.delete(lease);
          await releaseLeaseRecord(knex, name, settings, fencingToken).catch(() => undefined);
          await lock.release().catch(() => undefined);
        },
      };
      held.add(lease);
      return lease;
    },
    async close() {
      await Promise.all([...held].map((lease) => lease.release()));
    },
  };
};
