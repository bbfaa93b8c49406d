import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOverdueCheck } from '../../src/commands/overdueCheck.js';
import { compose, type System } from '../../src/compose.js';
import type { EventMetadata } from '../../src/domain/event.js';
import type { Task } from '../../src/domain/task/state.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/infra/logger.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { eventually } from '../support/process.js';

type Session = Readonly<{ token: string; userId: string }>;
type Notification = { id: string; type: string; taskId: string; createdAt: string };

const EVERY_SECOND = '* * * * * *';
const hoursFromNow = (hours: number) => new Date(Date.now() + hours * 3600_000).toISOString();

/** What a client and the log say about one task, read the way each is meant to be read. */
const observe = (app: TestApp, session: Session) => ({
  async task(id: string) {
    const res = await app.call<Task>('GET', `/tasks/${id}`, { token: session.token });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  },
  async notifications(taskId: string) {
    const res = await app.call<{ data: Notification[] }>('GET', '/notifications?limit=100', { token: session.token });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.data.filter((n) => n.taskId === taskId);
  },
  async overdueEvents(taskId: string) {
    const rows: { event_id: string; metadata: EventMetadata }[] = await app.db
      .knex('events')
      .where({ type: 'TaskMarkedOverdue', stream_id: `task-${taskId}` })
      .orderBy('stream_version')
      .select('event_id', 'metadata');
    return rows;
  },
  async create(body: Record<string, unknown>) {
    const res = await app.call<Task>('POST', '/tasks', { token: session.token, body: { title: 'Past due', ...body } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  },
  async patch(id: string, body: Record<string, unknown>) {
    const res = await app.call<Task>('PATCH', `/tasks/${id}`, { token: session.token, body });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  },
});

const leaseOf = async (app: TestApp, name: string) =>
  (await app.db.knex('lock_leases').where({ name }).first()) as { holder: string; fencing_token: string } | undefined;

describe('overdue check: one lock holder, one event and one notification per overdue period', () => {
  let app: TestApp;
  let second: System | null = null;
  let user: Session;
  let see: ReturnType<typeof observe>;
  let taskId: string;

  /** Polls until the task's overdue flag, events and notifications all say `count` periods. */
  const settledAt = (count: number, overdue: boolean) =>
    eventually(
      async () => {
        const [task, events, notes] = await Promise.all([see.task(taskId), see.overdueEvents(taskId), see.notifications(taskId)]);
        return task.isOverdue === overdue && events.length === count && notes.length === count ? { task, events, notes } : null;
      },
      10_000,
      `${count} overdue period(s), isOverdue ${overdue}`,
    );
  const expectStill = async (count: number, overdue: boolean) => {
    expect((await see.task(taskId)).isOverdue).toBe(overdue);
    expect(await see.overdueEvents(taskId)).toHaveLength(count);
    expect(await see.notifications(taskId)).toHaveLength(count);
  };

  beforeAll(async () => {
    app = await startTestApp({ OVERDUE_CHECK_CRON: EVERY_SECOND, INSTANCE_ID: 'overdue-first' });
    user = await app.login('user@example.com', 'user123');
    see = observe(app, user);
  });
  afterAll(async () => {
    await second?.close();
    await app?.close();
  });

  it('marks a past-due task overdue once, stamped with the lock\'s fencing token, and notifies its owner once', async () => {
    const created = await see.create({ dueDate: hoursFromNow(-1) });
    taskId = created.id;
    const { events, notes } = await settledAt(1, true);
    expect(notes[0]).toMatchObject({ type: 'TASK_OVERDUE', taskId });
    const { metadata } = events[0]!;
    const lease = await leaseOf(app, 'overdue-check');
    expect(lease?.holder).toBe('overdue-first');
    expect(metadata.actor).toBe('system');
    expect(metadata.fencing).toEqual({ lock: 'overdue-check', token: lease!.fencing_token });
    expect(notes[0]!.id).toBe(events[0]!.event_id);

    const history = await app.call<{ data: { type: string; actor: string }[] }>('GET', `/tasks/${taskId}/history`, { token: user.token });
    expect(history.body.data.filter((e) => e.type === 'TaskMarkedOverdue')).toEqual([expect.objectContaining({ actor: 'system' })]);

    // The check keeps running every second; the task stays marked once.
    await sleep(3000);
    await expectStill(1, true);
  });

  it('emits nothing more while a second instance runs on the same database, nor when runs race', async () => {
    const config = loadConfig({
      DATABASE_URL: app.db.url,
      JWT_SECRET: 'second-instance-secret-long-enough-0123456789',
      LOG_LEVEL: 'error',
      OVERDUE_CHECK_CRON: EVERY_SECOND,
      INSTANCE_ID: 'overdue-second',
    });
    second = await compose(config, { url: app.db.url, embedded: false, jwtSecret: config.jwtSecret, close: async () => {} }, { logger: silentLogger(), poolSize: 5 });
    await sleep(5000);
    await expectStill(1, true);

    // A retried or stale run racing the holder's schedule: the task's stream decides, once.
    const racing = await see.create({ title: 'Raced', dueDate: hoursFromNow(-1) });
    await eventually(async () => (await app.db.knex('tasks').where({ id: racing.id }).first()) ?? null, 5000, 'the task in the read model');
    const staleLease = { name: 'overdue-check', fencingToken: 0n, lost: new AbortController().signal };
    const deps = { knex: second.knex, tasks: second.tasks, now: () => new Date(), logger: silentLogger() };
    await Promise.allSettled(Array.from({ length: 5 }, () => runOverdueCheck(deps, staleLease)));
    await eventually(async () => (await see.notifications(racing.id)).length === 1, 10_000, 'the raced task\'s notification');
    await sleep(1500);
    expect(await see.overdueEvents(racing.id)).toHaveLength(1);
    expect(await see.notifications(racing.id)).toHaveLength(1);

    expect(second.locks.find((r) => r.name === 'overdue-check')?.status().held).toBe(false);
    expect((await leaseOf(app, 'overdue-check'))?.holder).toBe('overdue-first');
  });

  it('clears isOverdue when the due date moves into the future, and leaves it cleared', async () => {
    const updated = await see.patch(taskId, { dueDate: hoursFromNow(24) });
    expect(updated.isOverdue).toBe(false);
    expect((await see.task(taskId)).isOverdue).toBe(false);
    await sleep(2500);
    await expectStill(1, false);
  });

  it('marks a new overdue period, once, when the due date moves into the past again', async () => {
    await see.patch(taskId, { dueDate: hoursFromNow(-2) });
    const { events, notes } = await settledAt(2, true);
    expect(events.map((e) => e.metadata.fencing?.lock)).toEqual(['overdue-check', 'overdue-check']);
    expect(new Set(notes.map((n) => n.id))).toEqual(new Set(events.map((e) => e.event_id)));
    await sleep(2500);
    await expectStill(2, true);
  });

  it('hands the check to the second instance when the first lets go of its locks', async () => {
    const before = BigInt((await leaseOf(app, 'overdue-check'))!.fencing_token);
    // The first instance keeps serving the API; only its lock-holding work stops.
    await Promise.all(app.system.locks.map((runner) => runner.stop()));
    await eventually(async () => (await leaseOf(app, 'overdue-check'))?.holder === 'overdue-second', 5000, 'the second instance to hold the check');

    const late = await see.create({ title: 'Past due after failover', dueDate: hoursFromNow(-3) });
    const marked = await eventually(
      async () => {
        const [events, notes] = await Promise.all([see.overdueEvents(late.id), see.notifications(late.id)]);
        return events.length === 1 && notes.length === 1 ? events[0] : null;
      },
      10_000,
      'the second instance to mark and notify',
    );
    expect(marked.metadata.fencing?.lock).toBe('overdue-check');
    expect(BigInt(marked.metadata.fencing!.token) > before).toBe(true);
    await eventually(async () => (await see.task(late.id)).isOverdue, 5000, 'the first instance to serve the change');
    await expectStill(2, true);
  });
});

describe('overdue notification webhook', () => {
  type Call = { at: number; headers: IncomingHttpHeaders; body: { type: string; taskId: string; eventId: string } };
  let app: TestApp;
  let server: Server;
  const calls: Call[] = [];
  let failing = true;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        calls.push({ at: Date.now(), headers: req.headers, body: JSON.parse(body) });
        res.writeHead(failing ? 500 : 204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks/overdue`;
    app = await startTestApp({ OVERDUE_CHECK_CRON: EVERY_SECOND, NOTIFY_WEBHOOK_URL: url });
  });
  afterAll(async () => {
    await app?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('retries a failing delivery with growing delays, without a second notification, until it succeeds', async () => {
    const user = await app.login('user@example.com', 'user123');
    const see = observe(app, user);
    const task = await see.create({ dueDate: hoursFromNow(-1) });
    await eventually(async () => calls.length >= 3, 10_000, 'three delivery attempts');
    const [event] = await see.overdueEvents(task.id);
    for (const call of calls) {
      expect(call.body).toMatchObject({ type: 'TASK_OVERDUE', taskId: task.id, eventId: event!.event_id });
      expect(call.headers['idempotency-key']).toBe(event!.event_id);
    }
    const gaps = calls.slice(1, 3).map((c, i) => c.at - calls[i]!.at);
    // Exponential backoff from 1 s: about 1 s, then about 2 s.
    expect(gaps[0]).toBeGreaterThanOrEqual(900);
    expect(gaps[1]).toBeGreaterThanOrEqual(1800);
    const counts = await app.system.queue.counts();
    expect(counts.completed).toBe(0);
    expect(counts.failed).toBe(0);
    expect(counts.delayed + counts.waiting + counts.active).toBe(1);
    expect(await see.notifications(task.id)).toHaveLength(1);

    failing = false;
    await eventually(async () => (await app.system.queue.counts()).completed === 1, 15_000, 'the retried job to complete');
    expect(calls.at(-1)!.body.eventId).toBe(event!.event_id);
    expect(await see.notifications(task.id)).toHaveLength(1);
    expect(await app.system.queue.failedJobs(10)).toEqual([]);
  });
});
