import type { Router } from 'express';
import type { Knex } from 'knex';
import type { EventStore } from '../../infra/eventstore/eventStore.js';
import { readCheckpoints } from '../../projections/checkpoints.js';
import type { ProjectionRunner } from '../../projections/runtime.js';

export type HealthDeps = Readonly<{ knex: Knex; eventStore: EventStore; runners: () => readonly ProjectionRunner[] }>;

const CHECK_TIMEOUT_MS = 2000;

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

export const healthRoutes = (deps: HealthDeps) => (router: Router) => {
  const { knex, runners } = deps;
  const checkDatabase = () => timed(() => knex.raw('SELECT 1'));

  router.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/health/ready', async (_req, res) => {
    const postgres = await checkDatabase();
    const ready = postgres.status === 'up';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', checks: { postgres } });
  });

  router.get('/health', async (_req, res) => {
    const postgres = await checkDatabase();
    const projections: Record<string, unknown> = {};
    if (postgres.status === 'up') {
      const checkpoints = await readCheckpoints(knex);
      for (const runner of runners()) {
        const at = checkpoints.get(runner.name);
        const lag = at ? await deps.eventStore.lagAfter(at) : null;
        projections[runner.name] = { ...runner.status(), lagEvents: lag?.events ?? null, checkpoint: at ? `${at.tx}/${at.pos}` : null };
      }
    }
    const healthy = postgres.status === 'up';
    res.status(healthy ? 200 : 503).json({ status: healthy ? 'ok' : 'degraded', dependencies: { postgres }, projections });
  });
};
