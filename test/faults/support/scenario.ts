import { expect } from 'vitest';
import { createRecorder, type Recorder, registerUsers, type User } from './client.js';
import { auditVerify, waitForProjections } from './inspect.js';
import { checkWrites, expectedTasks, readLog } from './log.js';
import { startReaders } from './readers.js';
import { durations, printReport, summarize, summaryLines, type Summary } from './report.js';
import { startPrivatePostgres, type PrivatePostgres, startPrivateRedis, type PrivateRedis } from './services.js';
import { checkStaleReads } from './staleness.js';
import { startTopology, type NodeSpec, type Topology } from './topology.js';
import { startWriters, type WriteRecord, type WriterOptions } from './writers.js';

export type FaultRun = Readonly<{
  pg: PrivatePostgres;
  redis: PrivateRedis | null;
  topology: Topology;
  recorder: Recorder;
  users: readonly User[];
  close: () => Promise<void>;
}>;

/** A private PostgreSQL (and Redis), TaskFlow's processes on them, the proxy, and four users. */
export const startFaultRun = async (options: { redis?: boolean; specs?: readonly NodeSpec[]; env?: Record<string, string>; users?: number } = {}): Promise<FaultRun> => {
  const pg = await startPrivatePostgres();
  const redis = options.redis ? await startPrivateRedis() : null;
  try {
    const topology = await startTopology({ databaseUrl: pg.url, redisUrl: redis?.url, specs: options.specs, env: options.env });
    const recorder = createRecorder();
    const users = await registerUsers(recorder, topology.proxy.url, options.users ?? 4);
    return {
      pg,
      redis,
      topology,
      recorder,
      users,
      close: async () => {
        await topology.close();
        await redis?.destroy();
        await pg.destroy();
      },
    };
  } catch (error) {
    await redis?.destroy();
    await pg.destroy();
    throw error;
  }
};

/** The 8 writers and 2 readers, through the proxy. */
export const startLoad = (run: FaultRun, options: Partial<WriterOptions> & { readers?: number } = {}) => {
  const writers = startWriters({ recorder: run.recorder, base: run.topology.proxy.url, users: run.users, ...options });
  const readers = startReaders({ recorder: run.recorder, base: run.topology.proxy.url, users: run.users, createdBy: writers.createdBy, readers: options.readers ?? 2 });
  return {
    writers,
    stop: async () => {
      await readers.stop();
      await writers.stop();
    },
  };
};

export type Outcome = Readonly<{
  summary: Summary;
  settled: boolean;
  lost: readonly string[];
  doubled: readonly string[];
  stale: readonly string[];
  gaveUp: readonly string[];
  verify: { code: number | null; output: string };
  lines: [string, string][];
}>;

/**
 * After the load has stopped: waits for the projections, then checks the log against every
 * acknowledged write, each API instance against the log, and runs `audit verify`.
 */
export const settleAndCheck = async (run: FaultRun, records: readonly WriteRecord[], users: readonly User[] = run.users): Promise<Outcome> => {
  const summary = summarize(run.recorder.samples);
  const settle = await waitForProjections(run.pg.pool);
  const events = await readLog(run.pg.pool);
  const { lost, doubled, acknowledged } = checkWrites(events, records);
  const instances = run.topology.apis().filter((n) => run.topology.alive(n.name));
  const { stale, reads } = await checkStaleReads(createRecorder(), instances, users, expectedTasks(events));
  const verify = await auditVerify(run.topology.env);
  const gaveUp = records.filter((w) => w.gaveUp).map((w) => `${w.kind} ${w.cid}: last answer ${w.status} after ${w.attempts} attempts`);
  const idempotent = records.filter((w) => w.key);
  const lines: [string, string][] = [
    ...summaryLines(summary),
    ['write durations', durations(run.recorder.samples.filter((s) => s.kind === 'write').map((s) => s.ms))],
    ['logical writes', `${records.length} (${acknowledged} acknowledged; ${idempotent.length} with Idempotency-Key, ${idempotent.filter((w) => w.attempts > 1).length} retried, ${gaveUp.length} gave up)`],
    ['events in the log', String(events.length)],
    ['lost / doubled', `${lost.length} / ${doubled.length}`],
    ['stale reads', `${stale.length} of ${reads} reads on ${instances.map((n) => n.name).join(', ')}`],
    ['projections settled', `${settle.settled ? 'yes' : `NO (behind: ${JSON.stringify(settle.behind)})`} after ${Math.round(settle.ms)} ms`],
    ['audit verify', `exit ${verify.code}`],
  ];
  return { summary, settled: settle.settled, lost, doubled, stale, gaveUp, verify, lines };
};

/** Prints the figures, then asserts the guarantees every scenario shares (all of them, softly). */
export const reportAndAssert = (title: string, outcome: Outcome, extra: [string, string][] = [], examples: Record<string, readonly string[]> = {}) => {
  const { summary } = outcome;
  printReport(title, [...outcome.lines, ...extra], {
    lost: outcome.lost,
    doubled: outcome.doubled,
    'stale reads': outcome.stale,
    'gave up': outcome.gaveUp,
    'not problem+json': summary.notProblem.map((s) => `${s.op} ${s.status}`),
    'over 10 s': summary.slow.map((s) => `${s.op} ${s.status} ${s.code ?? s.error ?? ''} in ${Math.round(s.ms)} ms`),
    ...(outcome.verify.code === 0 ? {} : { 'audit verify': outcome.verify.output.split('\n') }),
    ...examples,
  });
  expect.soft(outcome.lost, 'lost writes').toEqual([]);
  expect.soft(outcome.doubled, 'doubled events').toEqual([]);
  expect.soft(outcome.stale, 'stale reads once settled').toEqual([]);
  expect.soft(outcome.settled, 'projections caught up').toBe(true);
  expect.soft(outcome.verify.code, 'taskflow audit verify exit code').toBe(0);
  expect.soft(outcome.gaveUp, 'idempotent writes whose retries never got an answer').toEqual([]);
  expect.soft(summary.notProblem.length, 'non-2xx answers that are not problem+json').toBe(0);
  expect.soft(summary.slow.length, 'answers slower than 10 s').toBe(0);
};
