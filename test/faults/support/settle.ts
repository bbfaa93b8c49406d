import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { runCli } from '../../support/process.js';

export const PROJECTIONS = ['tasks', 'users', 'notification-jobs'] as const;

/** How many events of the log each projection has not applied yet (read straight from the tables). */
export const eventsBehind = async (pool: pg.Pool): Promise<Record<string, number>> => {
  const { rows } = await pool.query<{ name: string; behind: number }>(
    `SELECT p.name, (SELECT count(*)::int FROM events e
                     WHERE c.name IS NULL OR (e.transaction_id, e.global_position) > (c.tx::text::xid8, c.pos)) AS behind
     FROM unnest($1::text[]) AS p(name) LEFT JOIN projection_checkpoints c ON c.name = p.name`,
    [PROJECTIONS],
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.behind]));
};

/** Waits (bounded) until every projection has applied the whole log; how long that took. */
export const waitForProjections = async (pool: pg.Pool, timeoutMs = 60_000) => {
  const started = performance.now();
  let behind: Record<string, number> = {};
  while (performance.now() - started < timeoutMs) {
    behind = await eventsBehind(pool).catch(() => ({ unknown: -1 }));
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
