// TaskFlow's state read straight from its tables (projection positions, lock leases), and audit verify.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { runCli } from '../../support/process.js';

export const PROJECTIONS = ['tasks', 'users', 'notification-jobs'] as const;

/**
 * How many events of the log (up to a global position, when given) each projection has not
 * applied yet, read straight from the tables.
 */
export const eventsBehind = async (pool: pg.Pool, upTo: number | null = null): Promise<Record<string, number>> => {
  const { rows } = await pool.query<{ name: string; behind: number }>(
    `SELECT p.name, (SELECT count(*)::int FROM events e
                     WHERE ($2::bigint IS NULL OR e.global_position <= $2)
                       AND (c.name IS NULL OR (e.transaction_id, e.global_position) > (c.tx::text::xid8, c.pos))) AS behind
     FROM unnest($1::text[]) AS p(name) LEFT JOIN projection_checkpoints c ON c.name = p.name`,
    [PROJECTIONS, upTo],
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.behind]));
};

/** Waits (bounded) until every projection has applied the whole log (or the log up to `upTo`); how long that took. */
export const waitForProjections = async (pool: pg.Pool, timeoutMs = 60_000, upTo: number | null = null) => {
  const started = performance.now();
  let behind: Record<string, number> = {};
  while (performance.now() - started < timeoutMs) {
    behind = await eventsBehind(pool, upTo).catch(() => ({ unknown: -1 }));
    if (Object.values(behind).every((n) => n === 0)) return { settled: true, ms: performance.now() - started, behind };
    await sleep(200);
  }
  return { settled: false, ms: performance.now() - started, behind };
};

/** `taskflow audit verify` as an operator runs it, with the cluster's environment. */
export const auditVerify = async (env: Record<string, string>) => {
  const run = await runCli(['audit', 'verify'], env);
  return { code: run.code, output: `${run.stdout}${run.stderr}`.trim() };
};

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
