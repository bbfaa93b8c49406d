import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOk } from './support/client.js';
import { durations } from './support/report.js';
import { reportAndAssert, settleAndCheck, startFaultRun, startLoad, type FaultRun } from './support/scenario.js';
import { canStartRedis, NO_REDIS_SERVER } from './support/services.js';

const OUTAGE_MS = 20_000;
const hasRedis = canStartRedis();
if (!hasRedis) console.log(`Redis outage scenario ${NO_REDIS_SERVER}`);

/** Redis accelerates (cache, limits, locks, queue); its outage must not fail a request nor stop a read model. */
describe.skipIf(!hasRedis)(`Redis stopped for 20 s under load${hasRedis ? '' : ` (${NO_REDIS_SERVER})`}`, () => {
  let run: FaultRun;
  beforeAll(async () => {
    run = await startFaultRun({ redis: true });
  });
  afterAll(async () => run?.close());

  it('answers without a single error meanwhile (reads fall back to PostgreSQL) and serves nothing stale after it returns', async () => {
    const { recorder, topology } = run;
    const redis = run.redis!;
    const load = startLoad(run);
    await sleep(5000);
    const stopAt = recorder.now();
    await redis.stop();
    await sleep(OUTAGE_MS);
    const upFrom = recorder.now();
    await redis.start();
    const upAt = recorder.now();
    await sleep(5000);
    await load.stop();

    const during = recorder.samples.filter((s) => s.sentAt >= stopAt && s.sentAt < upAt);
    const errors = during.filter((s) => s.status === 0 || s.status >= 500);
    const crashed = topology.nodes.filter((n) => !topology.alive(n.name)).map((n) => n.name);
    const outcome = await settleAndCheck(run, load.writers.records);
    reportAndAssert(
      'Redis stopped for 20 s',
      outcome,
      [
        ['outage', `${Math.round(upFrom - stopAt)} ms (start took ${Math.round(upAt - upFrom)} ms)`],
        ['answers meanwhile', `${during.length}: ${during.filter((s) => isOk(s.status)).length} 2xx, ${errors.length} errors (5xx or none); ${durations(during.map((s) => s.ms))}`],
        ['  reads meanwhile', `${during.filter((s) => s.kind === 'read').length}, 503 READ_MODEL_BEHIND: ${during.filter((s) => s.code === 'READ_MODEL_BEHIND').length}`],
        ['processes that died', crashed.join(', ') || 'none'],
      ],
      { 'errors during the outage': errors.map((s) => `${s.op} ${s.status} ${s.code ?? s.error ?? ''} in ${Math.round(s.ms)} ms`) },
    );
    expect.soft(errors.length, 'errors (5xx or no answer) while Redis was down').toBe(0);
    expect.soft(crashed, 'TaskFlow processes that died').toEqual([]);
  }, 180_000);
});
