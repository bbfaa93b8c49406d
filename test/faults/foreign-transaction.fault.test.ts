import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginAdmin, type User } from './support/client.js';
import { lagsBetween, startLagProbe } from './support/lag.js';
import { durations, percentile } from './support/report.js';
import { reportAndAssert, settleAndCheck, startFaultRun, type FaultRun } from './support/scenario.js';

const HOLD_MS = 60_000;
/** Issue 11's bound: a stalled projection shows a lag as long as the transaction's age instead. */
const MAX_LAG_P99_MS = 1000;

/** A writing transaction that never touches the event log, held open on the same cluster. */
const holdForeignTransaction = async (url: string, ms: number) => {
  const client = new pg.Client({ connectionString: url, application_name: 'fault-suite foreign transaction' });
  await client.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ xid: string }>('SELECT txid_current() AS xid');
    await sleep(ms);
    await client.query('ROLLBACK');
    return rows[0]!.xid;
  } finally {
    await client.end();
  }
};

describe('a foreign transaction held open 60 s on the cluster, under a light write load', () => {
  let run: FaultRun;
  let admin: User;
  beforeAll(async () => {
    run = await startFaultRun({ users: 1 });
    admin = await loginAdmin(run.recorder, run.topology.proxy.url);
  });
  afterAll(async () => run?.close());

  it("keeps the projection lag p99 within 1 s and no read answers 503, in TaskFlow's database and in the postgres database", async () => {
    const { recorder, pg: cluster } = run;
    const probe = startLagProbe({ recorder, base: run.topology.proxy.url, writer: run.users[0]!, observer: admin });
    const phases: { name: string; from: number; to: number; held: boolean }[] = [];
    const baseline = recorder.now();
    await sleep(10_000);
    phases.push({ name: 'no foreign transaction', from: baseline, to: recorder.now(), held: false });
    for (const database of ['taskflow', 'postgres']) {
      const from = recorder.now();
      const xid = await holdForeignTransaction(cluster.urlOf(database), HOLD_MS);
      phases.push({ name: `transaction ${xid} open in database ${database}`, from, to: recorder.now(), held: true });
      await sleep(5000);
    }
    await probe.stop();
    const end = recorder.now();

    const figures = phases.map((p) => {
      const lags = lagsBetween(probe.sightings, p.from, p.to, end);
      const reads = recorder.samples.filter((s) => s.kind === 'read' && s.sentAt >= p.from && s.sentAt < p.to);
      const unavailable = reads.filter((s) => s.status === 503);
      const unseen = probe.sightings.filter((s) => s.ackAt >= p.from && s.ackAt < p.to && s.seenAt === null).length;
      return { ...p, lags, reads: reads.length, unavailable, unseen };
    });
    const outcome = await settleAndCheck(run, probe.records);
    reportAndAssert(
      'foreign transaction held open 60 s',
      outcome,
      figures.map((f) => [f.name, `lag ${durations(f.lags)}; never seen ${f.unseen}; reads ${f.reads}, 503: ${f.unavailable.length}${f.unavailable.length ? ` (${[...new Set(f.unavailable.map((s) => s.code))].join(', ')})` : ''}`]),
    );
    for (const f of figures.filter((f) => f.held)) {
      expect.soft(percentile(f.lags, 99), `projection lag p99 (ms) with a ${f.name}`).toBeLessThanOrEqual(MAX_LAG_P99_MS);
      expect.soft(f.unavailable.length, `reads answered 503 with a ${f.name}`).toBe(0);
    }
  }, 240_000);
});
