import type { Knex } from 'knex';
import pg from 'pg';
import { keepRenewed, recordLease, releaseLeaseRecord, renewLeaseRecord, type LeaderLock, type Lease, type LockSettings } from './lock.js';

/**
 * PostgreSQL session advisory locks, one dedicated connection per held lock: the lock lives as
 * long as that connection. Renewal checks the connection and the lease record; if either fails
 * the lease is reported lost (and the connection closed, which frees the lock for others).
 */
export const createPostgresLock = (knex: Knex, connectionString: string, settings: LockSettings): LeaderLock => {
  const held = new Set<Lease>();
  return {
    async tryAcquire(name) {
      const client = new pg.Client({ connectionString, application_name: `taskflow-lock:${settings.instanceId}` });
      client.on('error', () => undefined);
      await client.connect();
      const key = `taskflow:${name}`;
      try {
        const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [key]);
        if (!rows[0]?.locked) {
          await client.end();
          return null;
        }
      } catch (error) {
        await client.end().catch(() => undefined);
        throw error;
      }
      const fencingToken = await recordLease(knex, name, settings).catch(async (error) => {
        await client.end().catch(() => undefined);
        throw error;
      });
      const controller = new AbortController();
      let ended = false;
      const end = async () => {
        if (ended) return;
        ended = true;
        stopRenewing();
        held.delete(lease);
        await client.end().catch(() => undefined);
      };
      const stopRenewing = keepRenewed(
        settings.leaseMs,
        async () => {
          await client.query('SELECT 1');
          return (await renewLeaseRecord(knex, name, settings, fencingToken)) === 1;
        },
        () => {
          controller.abort(new Error(`lost the lock ${name}`));
          void end();
        },
      );
      client.on('error', () => {
        if (!controller.signal.aborted) controller.abort(new Error(`lost the lock ${name}: connection failed`));
        void end();
      });
      const lease: Lease = {
        name,
        fencingToken,
        lost: controller.signal,
        release: async () => {
          await releaseLeaseRecord(knex, name, settings, fencingToken).catch(() => undefined);
          await end();
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
