import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { durations } from './support/report.js';
import { reportAndAssert, settleAndCheck, startFaultRun, startLoad, type FaultRun } from './support/scenario.js';

const KILLS = 5;

/** Requests in flight on a killed instance fail (502 from the proxy); what was acknowledged must hold, and retried keys must finish. */
describe('SIGKILL of an API process under load', () => {
  let run: FaultRun;
  beforeAll(async () => {
    run = await startFaultRun();
  });
  afterAll(async () => run?.close());

  it(`loses and doubles nothing through ${KILLS} API kills, and an interrupted Idempotency-Key finishes on retry`, async () => {
    const load = startLoad(run);
    await sleep(3000);
    const restarts: number[] = [];
    for (let i = 0; i < KILLS; i++) {
      const victim = i % 2 === 0 ? 'api-a' : 'api-b';
      await sleep(1500 + Math.random() * 1500);
      await run.topology.signal(victim, 'SIGKILL');
      const started = performance.now();
      await run.topology.restart(victim);
      restarts.push(performance.now() - started);
    }
    await sleep(3000);
    await load.stop();
    const outcome = await settleAndCheck(run, load.writers.records);
    const cut = run.recorder.samples.filter((s) => s.code === 'UPSTREAM_FAILED').length;
    reportAndAssert('SIGKILL of an API process', outcome, [
      ['API kills', `${KILLS} (api-a, api-b in turn); restart to listening: ${durations(restarts)}`],
      ['cut by a kill (proxy 502)', String(cut)],
    ]);
  }, 180_000);
});
