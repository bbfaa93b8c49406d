import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import winston from 'winston';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { taskCommands } from '../../src/commands/tasks.js';
import { SYSTEM } from '../../src/domain/actor.js';
import { createKnex, createPgPool } from '../../src/infra/db/knex.js';
import { migrateToLatest } from '../../src/infra/db/migrate.js';
import { createJobQueue } from '../../src/infra/queue/jobQueue.js';
import { overdueNotificationJobs, type OverdueNotificationJob } from '../../src/notifications/overdueNotifications.js';
import { createPostgresEventStore } from '../../src/infra/eventstore/postgres.js';
import { checkCompleteness, countLogInPostgres } from '../../src/operations/completeness.js';
import { parkEvent, retryProjection } from '../../src/operations/repair.js';
import { projectionStatus, statusProblems } from '../../src/operations/status.js';
import { verifiedClean, verifyReadModels } from '../../src/operations/verify.js';
import { readCheckpoint } from '../../src/projections/checkpoints.js';
import { findFailure } from '../../src/projections/failures.js';
import { createProjectionWatermarks, runProjection } from '../../src/projections/runtime.js';
import { tasksProjection } from '../../src/projections/tasks.js';
import { silentLogger } from '../../src/infra/logger.js';
import { createTestDatabase } from '../support/database.js';
import { closeEventLog, type EventLog, logHead, openEventLog, registerOwner, systemOptions } from '../support/eventLog.js';
import { startPrivatePostgres } from '../support/privatePostgres.js';
import { eventually } from '../support/process.js';
import { hasRedisServer, startRedisServer } from '../support/redis.js';

// A projection that cannot apply one event stops on it, visibly, with everything before it
// applied; an operator retries it or parks the event, from any process (these act on the
// database only); the parked event is skipped, counted, listed and reported by verify.

/** A logger whose lines the test can read. */
const capturingLogger = () => {
  const lines: { level: string; message: string }[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { lines, logger: winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }) };
};

describe('a projection that fails on one event', () => {
  // Filled in by beforeAll.
  let { db, pool, eventStore, tasks, owner } = {} as EventLog;
  const context = () => systemOptions();

  beforeAll(async () => {
    ({ db, pool, eventStore, tasks, owner } = await openEventLog());
  });
  afterAll(() => closeEventLog({ db, pool, eventStore }));

  const createTask = async (title: string) => ((await tasks.create({ title, userId: owner }, context())).state as { task: { id: string } }).task.id;
  const titles = async () => (await db.knex('tasks').orderBy('title').select('title')).map((r) => r.title as string);
  const head = () => logHead({ db });

  /** A TaskCreated the tasks table cannot store (no title), appended as any event is. */
  const appendUnstorable = async () => {
    const taskId = randomUUID();
    const eventId = randomUUID();
    const metadata = { eventId, occurredAt: new Date().toISOString(), actor: 'system', correlationId: randomUUID(), causationId: null, schemaVersion: 1 };
    const data = { taskId, title: null, description: null, status: 'PENDING', priority: 'LOW', dueDate: null, userId: owner };
    const { position } = await eventStore.appendToStream(`task-${taskId}`, [{ type: 'TaskCreated', data, metadata }], { expectedVersion: 0 });
    return { eventId, taskId, position };
  };

  it('stops on it after a few tries, with the events before it applied; retry tries again; park skips it and goes on; verify reports it', async () => {
    await createTask('a before');
    await createTask('b before');
    const bad = await appendUnstorable();
    await createTask('c after');
    await createTask('d after');

    const { lines, logger } = capturingLogger();
    const watermarks = createProjectionWatermarks(db.knex);
    const runner = runProjection({ knex: db.knex, eventStore, watermarks, logger }, tasksProjection);
    try {
      const failure = await eventually(() => findFailure(db.knex, 'tasks'), 10_000, 'the failure on record');
      expect(failure).toMatchObject({ eventId: bad.eventId, streamId: `task-${bad.taskId}`, streamVersion: 1, type: 'TaskCreated', position: bad.position, attempts: 4 });
      expect(failure.error).toMatch(/null value in column "title"/);
      await eventually(async () => runner.status().state === 'failed', 5000, 'state failed');
      expect(await titles()).toEqual(['a before', 'b before']);
      // Stored right before the failing event: everything ahead of it in the log is applied.
      const checkpoint = await readCheckpoint(db.knex, 'tasks');
      const [{ count: behind }] = await db.knex('events')
        .whereRaw('(transaction_id, global_position) > (?::text::xid8, ?::bigint)', [checkpoint.tx.toString(), checkpoint.pos.toString()])
        .whereRaw('(transaction_id, global_position) < (?::text::xid8, ?::bigint)', [bad.position.tx.toString(), bad.position.pos.toString()])
        .count({ count: '*' });
      expect(Number(behind)).toBe(0);

      // It waits without spinning: no more tries and no more log lines while nobody acts.
      const logged = lines.length;
      await new Promise((r) => setTimeout(r, 1500));
      expect(lines.slice(logged).filter((l) => l.level !== 'debug')).toEqual([]);
      expect(lines.filter((l) => l.message === 'projection batch failed; trying again')).toHaveLength(2);
      expect(lines.filter((l) => l.message === 'projection stopped on an event it cannot apply')).toHaveLength(1);

      // Status from any process names it; so does the problems list /health shows.
      const status = (await projectionStatus({ knex: db.knex, eventStore })).find((s) => s.name === 'tasks')!;
      expect(status).toMatchObject({ state: 'failed', failure: { eventId: bad.eventId, type: 'TaskCreated', attempts: 4 } });
      expect(statusProblems([status])).toEqual([expect.stringContaining(`tasks: failed on event ${bad.eventId}`)]);

      // Refused, one clear reason each.
      await expect(parkEvent(db.knex, 'tasks', randomUUID(), 'wrong one', 'tester')).rejects.toThrow(/is not the event tasks stopped on/);
      await expect(retryProjection(db.knex, 'users', 'tester')).rejects.toThrow(/Projection users has not failed: there is nothing to retry/);
      await expect(parkEvent(db.knex, 'users', bad.eventId, 'not failed', 'tester')).rejects.toThrow(/has not failed/);
      await expect(retryProjection(db.knex, 'todos', 'tester')).rejects.toThrow(/Unknown projection "todos"/);
      await expect(parkEvent(db.knex, 'tasks', bad.eventId, '  ', 'tester')).rejects.toThrow(/--reason/);

      // Retry: the runner notices, tries the event again, and stops on it again.
      await retryProjection(db.knex, 'tasks', 'tester');
      const again = await eventually(async () => {
        const f = await findFailure(db.knex, 'tasks');
        return f && f.failedAt > failure.failedAt ? f : null;
      }, 10_000, 'the second failure');
      expect(again.eventId).toBe(bad.eventId);

      // Park: the runner skips exactly that event and applies the ones after it.
      await parkEvent(db.knex, 'tasks', bad.eventId, 'imported without a title', 'tester');
      expect(await watermarks.waitFor(['tasks'], await head(), 10_000)).toBe(true);
      expect(await titles()).toEqual(['a before', 'b before', 'c after', 'd after']);
      await eventually(async () => runner.status().state === 'live', 5000, 'state live');
    } finally {
      await runner.stop();
    }

    const operations = await db.knex('projection_operations').orderBy('id').select('action', 'operator', 'reason', 'event_id');
    expect(operations).toEqual([
      { action: 'retry', operator: 'tester', reason: null, event_id: bad.eventId },
      { action: 'park', operator: 'tester', reason: 'imported without a title', event_id: bad.eventId },
    ]);
    const status = (await projectionStatus({ knex: db.knex, eventStore })).find((s) => s.name === 'tasks')!;
    expect(status.failure).toBeNull();
    expect(status.parked).toEqual([expect.objectContaining({ eventId: bad.eventId, operator: 'tester', reason: 'imported without a title', streamVersion: 1 })]);

    // verify leaves the parked event out of the fold and reports it; the counts include it.
    const [report] = await verifyReadModels({ knex: db.knex, eventStore }, { projection: 'tasks' });
    expect(report).toMatchObject({ differenceCount: 0, completeness: { missing: 0, doubled: 0 }, parked: [expect.objectContaining({ eventId: bad.eventId })] });
    expect(verifiedClean(report!)).toBe(true);
    const [finding] = await checkCompleteness({ knex: db.knex, countLog: countLogInPostgres }, { names: ['tasks'], full: true });
    expect(finding).toMatchObject({ missing: 0, doubled: 0 });
  }, 60_000);
});

/** Samples a runner's state until stopped, to show what it went through and its longest wait between tries. */
const watchStates = (runner: { status: () => { state: string; retryInMs: number | null } }) => {
  const seen = new Set<string>();
  let longestWaitMs = 0;
  const timer = setInterval(() => {
    const { state, retryInMs } = runner.status();
    seen.add(state);
    longestWaitMs = Math.max(longestWaitMs, retryInMs ?? 0);
  }, 10);
  return { seen, longestWaitMs: () => longestWaitMs, stop: () => clearInterval(timer) };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logger = silentLogger();

describe('a dependency that is away is retried, never a failure', () => {
  it('PostgreSQL stopped for 4 s and started again: retrying meanwhile, then it resumes by itself', async () => {
    const pg = await startPrivatePostgres();
    const knex = createKnex(pg.url, { max: 4 });
    const pool = createPgPool(pg.url, 4);
    const eventStore = createPostgresEventStore(pool, pg.url);
    const tasks = taskCommands({ eventStore });
    let owner = '';
    const create = (title: string) => tasks.create({ title, userId: owner }, { context: { now: new Date().toISOString(), actor: SYSTEM }, correlationId: randomUUID() });
    const watermarks = createProjectionWatermarks(knex);
    let runner: ReturnType<typeof runProjection> | null = null;
    try {
      await migrateToLatest(knex);
      owner = await registerOwner(eventStore);
      runner = runProjection({ knex, eventStore, watermarks, logger }, tasksProjection);
      expect(await watermarks.waitFor(['tasks'], (await create('before')).position!, 10_000)).toBe(true);

      const states = watchStates(runner);
      await pg.stop();
      await sleep(4000);
      await pg.start();
      // Nothing is appended meanwhile (an append would wake the runner at once): it comes back by its own retries.
      const backAt = performance.now();
      await eventually(async () => runner!.status().state === 'live', 10_000, 'the runner live again');
      console.log(`[PostgreSQL outage] the runner was live again ${Math.round(performance.now() - backAt)} ms after PostgreSQL accepted connections`);
      const created = await create('after');
      expect(await watermarks.waitFor(['tasks'], created.position!, 10_000)).toBe(true);
      states.stop();

      // Retried at most a second apart, so it resumes within about a second of PostgreSQL's return.
      expect(states.longestWaitMs()).toBeGreaterThan(0);
      expect(states.longestWaitMs()).toBeLessThanOrEqual(1000);
      expect(states.seen).toContain('retrying');
      expect(states.seen).not.toContain('failed');
      expect(await findFailure(knex, 'tasks')).toBeNull();
      expect((await knex('tasks').select('title').orderBy('title')).map((r) => r.title)).toEqual(['after', 'before']);
    } finally {
      await runner?.stop();
      await eventStore.close();
      await pool.end().catch(() => undefined);
      await knex.destroy();
      await pg.destroy();
    }
  }, 120_000);

  it.skipIf(!hasRedisServer())(`the job queue's Redis stopped and started again: the notification subscription waits, then goes on${hasRedisServer() ? '' : ' (skipped: no redis-server on PATH)'}`, async () => {
    const database = await createTestDatabase();
    const pool = createPgPool(database.url, 4);
    const eventStore = createPostgresEventStore(pool, database.url);
    const tasks = taskCommands({ eventStore });
    const redis = await startRedisServer();
    let restarted: Awaited<ReturnType<typeof startRedisServer>> | null = null;
    const queue = createJobQueue<OverdueNotificationJob>(`outage-${randomUUID()}`, { redisUrl: redis.url, databaseUrl: database.url });
    const watermarks = createProjectionWatermarks(database.knex);
    const runner = runProjection({ knex: database.knex, eventStore, watermarks, logger }, overdueNotificationJobs(queue));
    const context = () => ({ context: { now: new Date().toISOString(), actor: SYSTEM }, correlationId: randomUUID() });
    const owner = await registerOwner(eventStore);
    const overdueTask = async () => {
      const created = await tasks.create({ title: 'late', userId: owner, dueDate: '2020-01-01T00:00:00.000Z' }, context());
      return tasks.markOverdue((created.state as { task: { id: string } }).task.id, context());
    };
    try {
      expect(await watermarks.waitFor(['notification-jobs'], (await overdueTask()).position!, 10_000)).toBe(true);
      const states = watchStates(runner);
      await redis.stop();
      const marked = await overdueTask();
      await sleep(1500);
      restarted = await startRedisServer(redis.port);
      expect(await watermarks.waitFor(['notification-jobs'], marked.position!, 15_000)).toBe(true);
      states.stop();
      expect(states.seen).not.toContain('failed');
      expect(await findFailure(database.knex, 'notification-jobs')).toBeNull();
      // The restarted Redis kept nothing: the job enqueued after it came back is there.
      const counts = await queue.counts();
      expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(1);
    } finally {
      await runner.stop();
      await queue.close();
      await restarted?.stop();
      await eventStore.close();
      await pool.end();
      await database.drop();
    }
  }, 60_000);
});
