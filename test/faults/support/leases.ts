import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

export type LeaseRow = Readonly<{ name: string; holder: string; acquiredAt: Date; expiresAt: Date }>;

const select = `SELECT name, holder, acquired_at AS "acquiredAt", expires_at AS "expiresAt" FROM lock_leases`;

/** The instance whose lease on `lock` is live, as `/health` and `projections status` read it. */
export const liveHolder = async (pool: pg.Pool, lock: string): Promise<LeaseRow | null> =>
  (await pool.query<LeaseRow>(`${select} WHERE name = $1 AND expires_at > now()`, [lock])).rows[0] ?? null;

export const liveLeasesOf = async (pool: pg.Pool, holder: string): Promise<LeaseRow[]> =>
  (await pool.query<LeaseRow>(`${select} WHERE holder = $1 AND expires_at > now() ORDER BY name`, [holder])).rows;

/** Polls until a live lease on `lock` passes `test`; null after `timeoutMs`. */
export const waitForLease = async (pool: pg.Pool, lock: string, test: (lease: LeaseRow) => boolean, timeoutMs = 15_000) => {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const lease = await liveHolder(pool, lock).catch(() => null);
    if (lease && test(lease)) return lease;
    await sleep(100);
  }
  return null;
};
