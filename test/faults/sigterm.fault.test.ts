import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOk, versionOf, type Answer } from './support/client.js';
import { liveLeasesOf, waitForLease } from './support/inspect.js';
import { reportAndAssert, settleAndCheck, startFaultRun, startLoad, type FaultRun } from './support/scenario.js';
import { LOCK_LEASE_MS } from './support/topology.js';
import type { WriteRecord } from './support/writers.js';

/** The CLI's own grace period: past it the process exits with code 1, drained or not. */
const GRACE_MS = 10_000;

/** Two instances that run everything (API, projections, worker, scheduler), as a cluster's pods do. */
describe('SIGTERM of an API instance under load', () => {
  let run: FaultRun;
  beforeAll(async () => {
    run = await startFaultRun({ specs: [{ name: 'node-a', role: 'all', behindProxy: true }, { name: 'node-b', role: 'all', behindProxy: true }] });
  });
  afterAll(async () => run?.close());

  it('completes the requests in flight, exits within the grace period and hands its locks over at once', async () => {
    const { recorder, topology, pg, users } = run;
    const load = startLoad(run);
    await sleep(5000);
    const holder = await waitForLease(pg.pool, 'projection:tasks', () => true);
    const victim = holder && topology.byInstance(holder.holder);
    if (!victim) throw new Error('nobody holds projection:tasks');
    const held = (await liveLeasesOf(pg.pool, victim.instanceId)).map((l) => l.name);

    // A burst straight at the victim, the signal while it is in flight.
    const burst: WriteRecord[] = users.flatMap((u, i) => [0, 1].map((j) => ({ cid: `fs-${i}-${j}-${Date.now()}`, kind: 'create' as const, userId: u.id, key: null, attempts: 1, status: 0, gaveUp: false, taskId: null, version: null, results: null })));
    const sent: Promise<Answer>[] = [
      ...burst.map((w, i) => recorder.send(victim.url, { method: 'POST', path: '/tasks', token: users[i % users.length]!.token, body: { title: `${w.cid} in flight` }, headers: { 'x-correlation-id': w.cid }, op: 'create in flight' })),
      ...users.map((u) => recorder.send(victim.url, { path: '/tasks?limit=100', token: u.token, op: 'list in flight' })),
    ];
    await sleep(20);
    const signalAt = recorder.now();
    const exit = await topology.signal(victim.name, 'SIGTERM');
    const exitWall = new Date();
    const answers = await Promise.all(sent);
    burst.forEach((w, i) => {
      w.status = answers[i]!.status;
      w.taskId = answers[i]!.status === 201 ? answers[i]!.body.id : null;
      w.version = versionOf(answers[i]!);
    });
    const takeovers = await Promise.all(held.map(async (name) => ({ name, lease: await waitForLease(pg.pool, name, (l) => l.holder !== victim.instanceId, 15_000) })));
    const late = takeovers.filter((t) => !t.lease || t.lease.acquiredAt.getTime() > exitWall.getTime() + LOCK_LEASE_MS);

    await sleep(2000);
    await topology.restart(victim.name);
    await sleep(3000);
    await load.stop();

    // Through the proxy: requests the victim had taken before the signal and answered after it.
    const straight = new Set(answers.map((a) => a.sample));
    const inFlight = recorder.samples.filter((s) => !straight.has(s) && s.sentAt < signalAt && s.doneAt > signalAt && (s.upstream === victim.name || s.upstream === null));
    const failed = inFlight.filter((s) => s.status === 0 || s.status >= 500);
    const burstFailed = answers.filter((a) => !isOk(a.status));
    const outcome = await settleAndCheck(run, [...load.writers.records, ...burst]);
    reportAndAssert(
      'SIGTERM of an API instance',
      outcome,
      [
        ['victim', `${victim.name} (held ${held.join(', ') || 'nothing'})`],
        ['exit', `code ${exit.code} after ${Math.round(exit.ms)} ms`],
        ['in flight at the signal', `${inFlight.length} via the proxy (${failed.length} failed); burst of ${answers.length} sent straight to it (${burstFailed.length} failed, ${answers.filter((a) => a.sample.doneAt > signalAt).length} answered after the signal)`],
        ['lock handover', takeovers.map((t) => `${t.name} ${t.lease ? `${t.lease.acquiredAt.getTime() - exitWall.getTime()} ms after exit by ${t.lease.holder}` : 'NOT taken'}`).join('; ') || 'no locks held'],
      ],
      { 'in-flight requests that failed': [...failed, ...burstFailed.map((a) => a.sample)].map((s) => `${s.op} ${s.status} ${s.code ?? s.error ?? ''} after ${Math.round(s.ms)} ms (sent ${Math.round(signalAt - s.sentAt)} ms before the signal)`), 'locks not taken over within a lease': late.map((t) => t.name) },
    );
    expect.soft(exit.code, 'exit code after SIGTERM (1: forced out at the end of the grace period)').toBe(0);
    expect.soft(exit.ms, 'ms from SIGTERM to exit').toBeLessThanOrEqual(GRACE_MS);
    expect.soft(failed.length + burstFailed.length, 'requests in flight at the signal that failed').toBe(0);
    expect.soft(late.map((t) => t.name), 'locks another instance took only after a lease expiry (or never)').toEqual([]);
  }, 180_000);
});
