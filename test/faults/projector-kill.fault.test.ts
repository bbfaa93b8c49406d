import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { durations } from './support/report.js';
import { reportAndAssert, settleAndCheck, startFaultRun, startLoad, type FaultRun } from './support/scenario.js';

const KILLS = 20;

/** Issue 11: a projector killed between committing a batch and invalidating the cache left a deleted task served for good. */
describe('SIGKILL of the projector process under load', () => {
  let run: FaultRun;
  beforeAll(async () => {
    run = await startFaultRun();
  });
  afterAll(async () => run?.close());

  it(`loses and doubles nothing, and no instance serves a stale task, through ${KILLS} kills`, async () => {
    const load = startLoad(run);
    await sleep(3000);
    const restarts: number[] = [];
    for (let i = 0; i < KILLS; i++) {
      // Killed while it catches up, a moment after it took the projections back.
      await sleep(200 + Math.random() * 1500);
      await run.topology.signal('projector', 'SIGKILL');
      const started = performance.now();
      await run.topology.restart('projector');
      restarts.push(performance.now() - started);
    }
    await sleep(2000);
    await load.stop();
    const outcome = await settleAndCheck(run, load.writers.records);
    reportAndAssert('SIGKILL of the projector', outcome, [['projector kills', `${KILLS}; restart to listening: ${durations(restarts)}`]]);
  }, 240_000);
});
