import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportAndAssert, settleAndCheck, startFaultRun, startLoad, type FaultRun } from './support/scenario.js';
import { spawnCli } from './support/topology.js';

const KILLS = 2;
type RebuildLine = { event: 'progress' | 'done'; phase?: string; done?: number; total?: number; events?: number; resumedAt?: number | null; seconds?: number };
const parse = (line: string): RebuildLine | null => {
  try {
    return JSON.parse(line) as RebuildLine;
  } catch {
    return null;
  }
};

describe('a projection rebuild killed mid-way under load', () => {
  let run: FaultRun;
  beforeAll(async () => {
    run = await startFaultRun();
  });
  afterAll(async () => run?.close());

  it(`resumes after ${KILLS} kills and completes, with no failed request meanwhile`, async () => {
    const load = startLoad(run);
    // A log long enough that a rebuild in small batches takes a few seconds.
    await sleep(15_000);
    const rebuild = () => spawnCli(['projections', 'rebuild', 'tasks', '--json', '--batch', '10'], run.topology.env);
    const from = run.recorder.now();
    const shadowExists = async () => (await run.pg.pool.query(`SELECT 1 FROM projection_checkpoints WHERE name = 'tasks@rebuild'`)).rowCount === 1;
    // Each run: the events it started from, and whether it was killed with its shadow tables unfinished.
    const runs: { resumedAt: number | null; killedMidWay: boolean }[] = [];
    let code: number | null = null;
    let output = '';
    let done: RebuildLine | null = null;
    for (let attempt = 0; attempt < KILLS + 5 && !done; attempt++) {
      const cli = rebuild();
      const first = parse((await cli.until((l) => parse(l)?.event === 'progress')) ?? '');
      const midWay = runs.filter((r) => r.killedMidWay).length < KILLS;
      if (midWay) {
        await sleep(300 + Math.random() * 900);
        cli.kill('SIGKILL');
      }
      code = await cli.exited;
      output = `${cli.lines.join('\n')}\n${cli.stderr()}`;
      done = cli.lines.map(parse).find((l) => l?.event === 'done') ?? null;
      runs.push({ resumedAt: first?.resumedAt ?? null, killedMidWay: midWay && !done && (await shadowExists()) });
      // A lock its killed predecessor still holds may refuse a run once.
      if (!midWay && !done) await sleep(1000);
    }
    const to = run.recorder.now();
    await sleep(2000);
    await load.stop();

    const during = run.recorder.samples.filter((s) => s.sentAt >= from && s.sentAt <= to);
    const failed = during.filter((s) => s.status === 0 || s.status >= 500);
    const outcome = await settleAndCheck(run, load.writers.records);
    reportAndAssert(
      'rebuild killed mid-way',
      outcome,
      [
        ['rebuild runs', `${runs.length}: ${runs.filter((r) => r.killedMidWay).length} killed mid-way (SIGKILL), the last to the end (exit ${code}); started at events ${runs.map((r) => r.resumedAt ?? '?').join(', ')}`],
        ['rebuild result', done ? `${done.events ?? '?'} events in ${done.seconds ?? '?'} s (resumed after ${done.resumedAt ?? 0})` : `none: ${output.slice(-300)}`],
        ['requests meanwhile', `${during.length}, failed (5xx or no answer): ${failed.length}`],
      ],
      { 'failed during the rebuild': failed.map((s) => `${s.op} ${s.status} ${s.code ?? s.error ?? ''}`) },
    );
    expect.soft(code, 'exit code of the rebuild run to the end').toBe(0);
    expect.soft(done, 'the rebuild reported done').not.toBeNull();
    expect.soft(runs.filter((r) => r.killedMidWay).length, 'rebuilds killed mid-way').toBe(KILLS);
    expect.soft(runs.slice(1).filter((_, i) => runs[i]!.killedMidWay).every((r) => (r.resumedAt ?? 0) > 0), 'each run after a mid-way kill resumed').toBe(true);
    expect.soft(failed.length, 'requests failed during the rebuild').toBe(0);
  }, 240_000);
});
