import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecorder, isOk, type Sample } from './support/client.js';
import { waitForProjections } from './support/inspect.js';
import { durations } from './support/report.js';
import { reportAndAssert, settleAndCheck, startFaultRun, startLoad, type FaultRun } from './support/scenario.js';

const OUTAGE_MS = 15_000;

/** A 503 that tells the client when to come back. */
const isPrompt503 = (s: Sample) => s.status === 503 && s.problem && s.retryAfter;

describe('PostgreSQL stopped for 15 s under load', () => {
  let run: FaultRun;
  beforeAll(async () => {
    run = await startFaultRun();
  });
  afterAll(async () => run?.close());

  it('answers a prompt 503 problem+json with Retry-After meanwhile, and recovers without restarting TaskFlow', async () => {
    const { recorder, pg, topology } = run;
    const load = startLoad(run);
    await sleep(5000);

    const stopAt = recorder.now();
    await pg.stop();
    const downAt = recorder.now();
    // Readiness of each instance, asked directly, through the outage.
    const probes = createRecorder();
    while (recorder.now() - downAt < OUTAGE_MS)
      await Promise.all([...topology.apis().map((n) => probes.send(n.url, { path: '/health/ready', kind: 'other', op: `ready ${n.name}` })), sleep(500)]);
    const upFrom = recorder.now();
    await pg.start();
    const upAt = recorder.now();

    // Recovery: the first acknowledged write sent after the restart, then the projections past it.
    let firstWrite: Sample | undefined;
    while (!firstWrite && recorder.now() - upAt < 30_000) {
      firstWrite = recorder.samples.find((s) => s.kind === 'write' && s.sentAt >= upAt && isOk(s.status));
      if (!firstWrite) await sleep(50);
    }
    // The log's head once that write is in: its events included.
    const head = Number((await pg.pool.query<{ head: string | null }>('SELECT max(global_position) AS head FROM events')).rows[0]?.head ?? 0);
    const caughtUp = await waitForProjections(pg.pool, 30_000, head);
    const projectionsAt = recorder.now();
    await sleep(3000);
    await load.stop();

    const during = recorder.samples.filter((s) => s.sentAt >= stopAt && s.sentAt < upFrom);
    const unclear = during.filter((s) => !isOk(s.status) && !isPrompt503(s));
    const readiness = probes.samples.filter((s) => s.sentAt >= downAt && s.sentAt < upFrom);
    const crashed = topology.nodes.filter((n) => !topology.alive(n.name)).map((n) => n.name);
    const outcome = await settleAndCheck(run, load.writers.records);
    reportAndAssert(
      'PostgreSQL stopped for 15 s',
      outcome,
      [
        ['outage', `${Math.round(upFrom - stopAt)} ms (stop took ${Math.round(downAt - stopAt)} ms, start ${Math.round(upAt - upFrom)} ms)`],
        ['answers meanwhile', `${during.length}: ${during.filter(isPrompt503).length} prompt 503s, ${during.filter((s) => isOk(s.status)).length} 2xx, ${unclear.length} other; ${durations(during.map((s) => s.ms))}`],
        ['/health/ready meanwhile', `${readiness.length} probes: ${readiness.filter((s) => s.status === 503).length} answered 503`],
        ['recovery', `first 2xx write ${firstWrite ? `${Math.round(firstWrite.doneAt - upAt)} ms` : 'NEVER'} after the restart; projections past it ${caughtUp.settled ? `${Math.round(projectionsAt - upAt)} ms` : 'NEVER'} after`],
        ['processes that died', crashed.join(', ') || 'none'],
      ],
      { 'answers during the outage that were not a prompt 503': unclear.map((s) => `${s.op} ${s.status} ${s.code ?? s.error ?? ''}${s.retryAfter ? '' : ' (no Retry-After)'}`) },
    );
    expect.soft(unclear.length, 'answers during the outage other than 2xx or 503 problem+json with Retry-After').toBe(0);
    expect.soft(readiness.every((s) => s.status === 503), '/health/ready answered 503 throughout the outage').toBe(true);
    expect.soft(firstWrite, 'a write succeeded after the restart').toBeDefined();
    expect.soft(caughtUp.settled, 'projections caught up after the restart').toBe(true);
    expect.soft(crashed, 'TaskFlow processes that died (they must recover by themselves)').toEqual([]);
  }, 180_000);
});
