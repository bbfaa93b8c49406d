import type { Knex } from 'knex';
import pg from 'pg';
import { leaseOf, type LeaderLock, type Lease, type LockSettings } from './lock.js';

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
      // The lock lives as long as this connection: closing it lets go, losing it means lost.
      return leaseOf(
        knex,
        name,
        settings,
        {
          renew: async () => void (await client.query('SELECT 1')),
          release: () => client.end(),
          watch: (lost) => client.on('error', lost),
        },
        held,
      );
    },
    async close() {
      await Promise.all([...held].map((lease) => lease.release()));
    },
  };
};
