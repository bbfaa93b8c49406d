import type { Router } from 'express';
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { EventStore } from '../../infra/eventstore/eventStore.js';
import type { ExclusiveRunner } from '../../infra/lock/exclusive.js';
import { readLeaseRecords } from '../../infra/lock/lock.js';
import type { JobQueue } from '../../infra/queue/jobQueue.js';
import { oldestAppendInFlight, projectionStatus, statusProblems, type AppendWithAge } from '../../operations/status.js';
import type { ProjectionRunner } from '../../projections/runtime.js';

export type HealthDeps = Readonly<{
  knex: Knex;
  eventStore: EventStore;
  redis: Redis | null;
  projections: () => readonly ProjectionRunner[];
  locks: () => readonly ExclusiveRunner[];
  queue: Pick<JobQueue<unknown>, 'counts'>;
}>;

const CHECK_TIMEOUT_MS = 2000;

/** The queue keeps pools of its own, without our timeouts: /health never waits on them longer than a check. */
const withinCheckTimeout = <T>(work: Promise<T>) =>
  Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer in time')), CHECK_TIMEOUT_MS).unref())]);

const timed = async (check: () => Promise<unknown>) => {
  const started = performance.now();
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS).unref()),
    ]);
    return { status: 'up' as const, latencyMs: Math.round(performance.now() - started) };
  } catch (error) {
    return { status: 'down' as const, latencyMs: Math.round(performance.now() - started), error: (error as Error).message };
  }
};

/** An append in flight longer than this holds every projection back: /health names it. */
const SLOW_APPEND_SECONDS = 5;

const slowAppendProblem = (append: AppendWithAge) =>
  `an append has been in flight for ${append.ageSeconds} s (transaction ${append.transactionId}` +
  `${append.pid ? `, pid ${append.pid}` : ''}${append.application ? `, ${append.application}` : ''}): every projection waits for it to end`;

export const healthRoutes = (deps: HealthDeps) => (router: Router) => {
  const { knex, redis } = deps;
  const checkDatabase = () => timed(() => knex.raw('SELECT 1'));
  const checkRedis = () => (redis ? timed(() => redis.ping()) : null);

  router.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Ready means PostgreSQL answers; Redis only speeds things up (the cache falls back to PostgreSQL).
  router.get('/health/ready', async (_req, res) => {
    const postgres = await checkDatabase();
    const ready = postgres.status === 'up';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', checks: { postgres } });
  });

  router.get('/health', async (_req, res) => {
    const [postgres, redisCheck] = await Promise.all([checkDatabase(), checkRedis()]);
    const dependencies = { postgres, ...(redisCheck ? { redis: redisCheck } : {}) };
    const projections: Record<string, unknown> = {};
    let locks: Record<string, unknown> = {};
    let queue: Record<string, number> | null = null;
    let problems: string[] = [];
    let oldestAppend: AppendWithAge | null = null;
    if (postgres.status === 'up') {
      // The same status the CLI prints; a runner in this process adds its own state and error,
      // except that a failure on record is shown as such.
      const leases = await readLeaseRecords(knex);
      const statuses = await projectionStatus({ ...deps, leases });
      const local = new Map(deps.projections().map((r) => [r.name, r.status()]));
      for (const status of statuses) {
        const here = local.get(status.name);
        const runsHere = here && here.state !== 'stopped' && status.state !== 'failed';
        projections[status.name] = runsHere ? { ...status, state: here.state, lastError: here.lastError ?? status.lastError } : status;
      }
      oldestAppend = await oldestAppendInFlight(deps.eventStore);
      problems = [...statusProblems(statuses), ...(oldestAppend && oldestAppend.ageSeconds >= SLOW_APPEND_SECONDS ? [slowAppendProblem(oldestAppend)] : [])];
      locks = Object.fromEntries(leases.map((l) => [l.name, { holder: l.live ? l.holder : null, fencingToken: l.fencingToken, expiresAt: l.expiresAt }]));
      queue = await withinCheckTimeout(deps.queue.counts()).catch(() => null);
    }
    const healthy = postgres.status === 'up';
    const degraded = !healthy || redisCheck?.status === 'down' || problems.length > 0;
    res.status(healthy ? 200 : 503).json({
      status: degraded ? 'degraded' : 'ok',
      // Failed or incomplete projections, one line each (see `taskflow projections status`).
      problems,
      dependencies,
      oldestAppend,
      projections,
      locks,
      ...(queue ? { queue } : {}),
      heldHere: Object.fromEntries(deps.locks().map((r) => [r.name, r.status().held])),
    });
  });
};
