import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForLease } from './support/inspect.js';
import { overdueCounts, startOverdueWriter } from './support/overdue.js';
import { durations } from './support/report.js';
import { reportAndAssert, settleAndCheck, startFaultRun, startLoad, type FaultRun } from './support/scenario.js';
import { STANDARD_NODES } from './support/topology.js';

const KILLS = 3;
const LOCK = 'overdue-check';

describe('SIGKILL of the overdue-check lock holder under load', () => {
  let run: FaultRun;
  beforeAll(async () => {
    // Two schedulers: when the holder dies, the other takes the check over.
    const specs = [...STANDARD_NODES.filter((n) => n.role !== 'scheduler'), { name: 'scheduler-a', role: 'scheduler' as const }, { name: 'scheduler-b', role: 'scheduler' as const }];
    run = await startFaultRun({ specs });
  });
  afterAll(async () => run?.close());

  it(`marks each past-due task overdue exactly once, with one notification, through ${KILLS} holder kills`, async () => {
    const { pool } = run.pg;
    const load = startLoad(run);
    const late = startOverdueWriter(run.recorder, run.topology.proxy.url, run.users);
    const handovers: number[] = [];
    const victims: string[] = [];
    for (let i = 0; i < KILLS; i++) {
      await sleep(3000 + Math.random() * 2000);
      const holder = await waitForLease(pool, LOCK, () => true);
      const victim = holder && run.topology.byInstance(holder.holder);
      if (!victim) throw new Error(`no live holder of ${LOCK}`);
      victims.push(victim.instanceId);
      await run.topology.signal(victim.name, 'SIGKILL');
      const killed = performance.now();
      const next = await waitForLease(pool, LOCK, (l) => l.holder !== holder.holder);
      handovers.push(next ? performance.now() - killed : Number.NaN);
      await run.topology.restart(victim.name);
    }
    await sleep(3000);
    await late.stop();
    await load.stop();

    const lateIds = late.records.filter((r) => r.status === 201).map((r) => r.taskId!);
    // The check runs every 2 s and the worker delivers the notifications: give both time, then a few more runs.
    const deadline = performance.now() + 30_000;
    while (performance.now() < deadline && (await overdueCounts(pool, lateIds)).some((t) => t.marks === 0 || t.notifications === 0)) await sleep(500);
    await sleep(5000);
    const counts = await overdueCounts(pool, lateIds);
    const wrong = counts.filter((t) => t.marks !== 1 || t.notifications !== 1).map((t) => `${t.id}: ${t.marks} TaskMarkedOverdue, ${t.notifications} notifications`);

    const outcome = await settleAndCheck(run, [...load.writers.records, ...late.records]);
    reportAndAssert(
      'SIGKILL of the overdue-check holder',
      outcome,
      [
        ['holder kills', `${KILLS} (${victims.join(', ')}); new holder after ${durations(handovers)}`],
        ['past-due tasks', `${lateIds.length}; marked once with one notification: ${counts.length - wrong.length}; otherwise: ${wrong.length}`],
      ],
      { 'past-due tasks not marked exactly once': wrong },
    );
    expect.soft(handovers.every((ms) => Number.isFinite(ms)), 'another scheduler took the lock after each kill').toBe(true);
    expect.soft(wrong, 'past-due tasks with other than one TaskMarkedOverdue and one notification').toEqual([]);
  }, 180_000);
});
