import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../../src/domain/actor.js';
import type { Task } from '../../src/domain/task/state.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { expectProblem, GENEROUS_LIMITS } from './expectations.js';

type Session = Readonly<{ token: string; userId: string }>;
type Notification = { id: string; type: string; taskId: string; createdAt: string };
type NotificationPage = { data: Notification[]; meta: { total: number; page: number; limit: number; totalPages: number } };

let app: TestApp;

const PAST = '2020-01-01T00:00:00.000Z';

const createTask = async (session: Session, body: Record<string, unknown> = {}) => {
  const res = await app.call<Task>('POST', '/tasks', { token: session.token, body: { title: 'Due long ago', dueDate: PAST, ...body } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
};

/** What the overdue scheduler does for each task it finds. */
const markOverdue = async (taskId: string) => {
  const result = await app.system.tasks.markOverdue(taskId, { context: { now: new Date().toISOString(), actor: SYSTEM }, correlationId: 'test' });
  // Distinct timestamps, so "newest first" has one right answer.
  await sleep(5);
  return result;
};

const notificationsOf = async (session: Session, query = '') => {
  const res = await app.call<NotificationPage>('GET', `/notifications${query}`, { token: session.token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
};

/** The system's writes reach the read model after the projection lag; the user has no write to wait for. */
const eventually = async <T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await sleep(25);
  }
};
const hasTask = (taskId: string) => (page: NotificationPage) => page.data.some((n) => n.taskId === taskId);

describe('GET /notifications (e2e)', () => {
  let owner: Session;
  let stranger: Session;
  let admin: Session;
  const overdue: Task[] = [];

  beforeAll(async () => {
    // This file plays the scheduler itself; the real one would race it (it runs once a year here).
    app = await startTestApp({ ...GENEROUS_LIMITS, OVERDUE_CHECK_CRON: '0 0 1 1 *' });
    owner = await app.newUser('Late owner');
    stranger = await app.newUser('Stranger');
    admin = await app.admin();
    for (let i = 0; i < 3; i++) overdue.push(await createTask(owner, { title: `Overdue ${i}` }));
    for (const task of overdue) expect((await markOverdue(task.id)).events.map((e) => e.type)).toEqual(['TaskMarkedOverdue']);
  });
  afterAll(() => app?.close());

  it('starts empty for a new user', async () => {
    const fresh = await app.newUser();
    expect(await notificationsOf(fresh)).toEqual({ data: [], meta: { total: 0, page: 1, limit: 10, totalPages: 0 } });
  });

  it('lists one TASK_OVERDUE per marked task, for its owner, newest first', async () => {
    const page = await eventually(() => notificationsOf(owner), (p) => p.meta.total === overdue.length);

    expect(page.data.map((n) => n.taskId)).toEqual(overdue.map((t) => t.id).reverse());
    for (const n of page.data) {
      expect(Object.keys(n).sort()).toEqual(['createdAt', 'id', 'taskId', 'type']);
      expect(n).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), type: 'TASK_OVERDUE' });
      expect(Date.parse(n.createdAt)).not.toBeNaN();
    }
    const times = page.data.map((n) => Date.parse(n.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(new Set(page.data.map((n) => n.id)).size).toBe(overdue.length);
  });

  it('the notification id is the TaskMarkedOverdue event id, and createdAt when it happened', async () => {
    const page = await eventually(() => notificationsOf(owner), (p) => p.meta.total === overdue.length);
    const history = await app.call('GET', `/tasks/${overdue[0]!.id}/history`, { token: owner.token });
    const marked = (history.body.data as { type: string; occurredAt: string; actor: string }[]).find((e) => e.type === 'TaskMarkedOverdue')!;
    expect(marked.actor).toBe('system');
    const note = page.data.find((n) => n.taskId === overdue[0]!.id)!;
    expect(note.createdAt).toBe(marked.occurredAt);
    const [row] = await app.db.knex('events').where({ type: 'TaskMarkedOverdue', stream_id: `task-${overdue[0]!.id}` }).select('event_id');
    expect(note.id).toBe(row.event_id);
  });

  it('is paginated: limit 2 gives pages of 2 and 1, with meta', async () => {
    await eventually(() => notificationsOf(owner), (p) => p.meta.total === overdue.length);
    const first = await notificationsOf(owner, '?page=1&limit=2');
    const second = await notificationsOf(owner, '?page=2&limit=2');
    const third = await notificationsOf(owner, '?page=3&limit=2');

    expect(first.meta).toEqual({ total: 3, page: 1, limit: 2, totalPages: 2 });
    expect(second.meta).toEqual({ total: 3, page: 2, limit: 2, totalPages: 2 });
    expect(first.data).toHaveLength(2);
    expect(second.data).toHaveLength(1);
    expect(third.data).toEqual([]);
    expect([...first.data, ...second.data].map((n) => n.taskId)).toEqual(overdue.map((t) => t.id).reverse());
  });

  it('400 for an invalid page or limit, or an unknown parameter', async () => {
    for (const query of ['?limit=101', '?limit=0', '?page=0', '?page=x', '?unread=true'])
      expectProblem(await app.call('GET', `/notifications${query}`, { token: owner.token }), 400);
  });

  it('401 without a token', async () => {
    expectProblem(await app.call('GET', '/notifications'), 401);
  });

  it("is own-only: another user, and an admin, see none of the owner's notifications", async () => {
    // A notification of the stranger's own proves the projection is past the owner's.
    const theirs = await createTask(stranger, { title: 'Stranger is late too' });
    await markOverdue(theirs.id);
    const strangerPage = await eventually(() => notificationsOf(stranger), hasTask(theirs.id));

    expect(strangerPage.data.map((n) => n.taskId)).toEqual([theirs.id]);
    const adminPage = await notificationsOf(admin);
    expect(adminPage.data.filter((n) => overdue.some((t) => t.id === n.taskId) || n.taskId === theirs.id)).toEqual([]);
    expect((await notificationsOf(owner)).data.map((n) => n.taskId)).not.toContain(theirs.id);
  });

  it('marking the same task again yields no event and no second notification', async () => {
    const task = overdue[0]!;
    const again = await markOverdue(task.id);
    expect(again.events).toEqual([]);

    // A later overdue task of the same owner: once it shows, anything from the repeat would too.
    const sentinel = await createTask(owner, { title: 'Sentinel' });
    await markOverdue(sentinel.id);
    const page = await eventually(() => notificationsOf(owner, '?limit=100'), hasTask(sentinel.id));
    expect(page.data.filter((n) => n.taskId === task.id)).toHaveLength(1);
    overdue.push(sentinel);
  });

  it('no notification for a completed task, a task due in the future, or one without a due date', async () => {
    const completed = await createTask(owner, { title: 'Done', status: 'COMPLETED' });
    const future = await createTask(owner, { title: 'Later', dueDate: '2999-01-01T00:00:00.000Z' });
    const undated = await createTask(owner, { title: 'Whenever', dueDate: null });
    for (const t of [completed, future, undated]) expect((await markOverdue(t.id)).events).toEqual([]);

    const sentinel = await createTask(owner, { title: 'Sentinel 2' });
    await markOverdue(sentinel.id);
    const page = await eventually(() => notificationsOf(owner, '?limit=100'), hasTask(sentinel.id));
    for (const t of [completed, future, undated]) expect(page.data.some((n) => n.taskId === t.id)).toBe(false);
    overdue.push(sentinel);
  });

  it('a new overdue period (due date moved to the future, then past again) gives a new notification', async () => {
    const task = overdue[1]!;
    const later = await app.call('PATCH', `/tasks/${task.id}`, { token: owner.token, body: { dueDate: '2999-01-01T00:00:00.000Z' } });
    expect(later.body.isOverdue).toBe(false);
    expect((await app.call('PATCH', `/tasks/${task.id}`, { token: owner.token, body: { dueDate: PAST } })).status).toBe(200);
    expect((await markOverdue(task.id)).events.map((e) => e.type)).toEqual(['TaskMarkedOverdue']);

    const page = await eventually(() => notificationsOf(owner, '?limit=100'), (p) => p.data.filter((n) => n.taskId === task.id).length === 2);
    expect(page.data[0]!.taskId).toBe(task.id);
  });

  it('a deleted task is not marked', async () => {
    const doomed = await createTask(owner, { title: 'Doomed' });
    expect((await app.call('DELETE', `/tasks/${doomed.id}`, { token: owner.token })).status).toBe(204);
    expect((await markOverdue(doomed.id)).events).toEqual([]);
  });
});
