import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Task } from '../../src/domain/task/state.js';
import { startTestApp, type ApiResponse, type TestApp } from '../support/app.js';
import { expectProblem, GENEROUS_LIMITS } from './expectations.js';

type Session = Readonly<{ token: string; userId: string }>;

let app: TestApp;
let owner: Session;

const withKey = (key: string) => ({ 'idempotency-key': key });
const newKey = () => `key-${randomUUID()}`;

const eventCount = async () => {
  const [{ count }] = await app.db.knex('events').count<{ count: string }[]>({ count: '*' });
  return Number(count);
};
const historyLength = async (session: Session, id: string) => {
  const res = await app.call('GET', `/tasks/${id}/history`, { token: session.token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return (res.body.data as unknown[]).length;
};
const createTask = async (session: Session, body: Record<string, unknown> = {}) => {
  const res = await app.call<Task>('POST', '/tasks', { token: session.token, body: { title: 'Idempotent', ...body } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
};

/** The replay is the first response again, marked as a replay. */
const expectReplayOf = (replayed: ApiResponse, first: ApiResponse) => {
  expect(replayed.status).toBe(first.status);
  expect(replayed.body).toEqual(first.body);
  for (const header of ['content-type', 'location', 'etag']) expect(replayed.headers.get(header), header).toBe(first.headers.get(header));
  expect(replayed.headers.get('idempotent-replayed')).toBe('true');
};

describe('Idempotency-Key (e2e)', () => {
  beforeAll(async () => {
    app = await startTestApp(GENEROUS_LIMITS);
    owner = await app.newUser('Retrier');
  });
  afterAll(() => app?.close());

  describe('POST /tasks', () => {
    it('the same key and body replay the first 201 (Location, ETag, body) and append nothing', async () => {
      const key = newKey();
      const body = { title: 'Pay the invoice', priority: 'HIGH' };
      const first = await app.call<Task>('POST', '/tasks', { token: owner.token, body, headers: withKey(key) });
      expect(first.status).toBe(201);
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      const events = await eventCount();

      const again = await app.call<Task>('POST', '/tasks', { token: owner.token, body, headers: withKey(key) });
      expectReplayOf(again, first);
      expect(again.headers.get('location')).toBe(`/tasks/${first.body.id}`);
      expect(again.headers.get('etag')).toBe('"1"');
      expect(await eventCount()).toBe(events);

      const mine = await app.call('GET', '/tasks?limit=100&search=Pay%20the%20invoice', { token: owner.token });
      expect(mine.body.data).toHaveLength(1);
    });

    it('the same body with its keys in another order is the same request', async () => {
      const key = newKey();
      const first = await app.call('POST', '/tasks', {
        token: owner.token,
        rawBody: '{"title":"Ordered","priority":"LOW","description":"a"}',
        headers: { ...withKey(key), 'content-type': 'application/json' },
      });
      expect(first.status).toBe(201);
      const events = await eventCount();

      const reordered = await app.call('POST', '/tasks', {
        token: owner.token,
        rawBody: '{ "description": "a", "priority": "LOW", "title": "Ordered" }',
        headers: { ...withKey(key), 'content-type': 'application/json' },
      });
      expectReplayOf(reordered, first);
      expect(await eventCount()).toBe(events);
    });

    it('the same key with another body is 422 IDEMPOTENCY_KEY_REUSED and appends nothing', async () => {
      const key = newKey();
      expect((await app.call('POST', '/tasks', { token: owner.token, body: { title: 'One' }, headers: withKey(key) })).status).toBe(201);
      const events = await eventCount();

      const other = await app.call('POST', '/tasks', { token: owner.token, body: { title: 'Two' }, headers: withKey(key) });
      expectProblem(other, 422, 'IDEMPOTENCY_KEY_REUSED');
      expect(await eventCount()).toBe(events);
    });

    it('the same key on another endpoint is another request: 422', async () => {
      const key = newKey();
      const created = await app.call<Task>('POST', '/tasks', { token: owner.token, body: { title: 'Here' }, headers: withKey(key) });
      expect(created.status).toBe(201);
      const patched = await app.call('PATCH', `/tasks/${created.body.id}`, { token: owner.token, body: { title: 'Here' }, headers: withKey(key) });
      expectProblem(patched, 422, 'IDEMPOTENCY_KEY_REUSED');
    });

    it('10 concurrent requests with one key create exactly one task, and all get the same 201', async () => {
      const key = newKey();
      const events = await eventCount();
      const body = { title: `Concurrent ${key}` };
      const responses = await Promise.all(
        Array.from({ length: 10 }, () => app.call<Task>('POST', '/tasks', { token: owner.token, body, headers: withKey(key) })),
      );

      for (const res of responses) {
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        expect(res.body).toEqual(responses[0]!.body);
        expect(res.headers.get('location')).toBe(`/tasks/${responses[0]!.body.id}`);
        expect(res.headers.get('etag')).toBe('"1"');
      }
      expect(responses.filter((r) => r.headers.get('idempotent-replayed') === null)).toHaveLength(1);
      expect(await eventCount()).toBe(events + 1);
      const listed = await app.call('GET', `/tasks?limit=100&search=${encodeURIComponent(body.title)}`, { token: owner.token });
      expect(listed.body.meta.total).toBe(1);
    });

    it('keys are per user: another user with the same key gets their own task', async () => {
      const other = await app.newUser('Other retrier');
      const key = newKey();
      const body = { title: 'Same key, two people' };
      const mine = await app.call<Task>('POST', '/tasks', { token: owner.token, body, headers: withKey(key) });
      const theirs = await app.call<Task>('POST', '/tasks', { token: other.token, body, headers: withKey(key) });

      expect(mine.status).toBe(201);
      expect(theirs.status).toBe(201);
      expect(theirs.headers.get('idempotent-replayed')).toBeNull();
      expect(theirs.body.id).not.toBe(mine.body.id);
      expect(theirs.body.userId).toBe(other.userId);
    });

    it('400 for a key over 255 characters, or with a space or a control character; nothing appended', async () => {
      const events = await eventCount();
      for (const key of ['k'.repeat(300), 'has space', 'tab\there', 'é-accent']) {
        const res = await app.call('POST', '/tasks', { token: owner.token, body: { title: 'Bad key' }, headers: withKey(key) });
        expectProblem(res, 400);
        expect(res.body.errors?.map((e: { field: string }) => e.field)).toContain('Idempotency-Key');
      }
      expect(await eventCount()).toBe(events);
    });

    it('a key of exactly 255 visible characters is accepted', async () => {
      const key = `${randomUUID()}${'~'.repeat(255 - 36)}`;
      expect((await app.call('POST', '/tasks', { token: owner.token, body: { title: 'Long key' }, headers: withKey(key) })).status).toBe(201);
    });

    it('a 400 first response is replayed too', async () => {
      const key = newKey();
      const first = await app.call('POST', '/tasks', { token: owner.token, body: { title: '' }, headers: withKey(key) });
      expectProblem(first, 400);
      const again = await app.call('POST', '/tasks', { token: owner.token, body: { title: '' }, headers: withKey(key) });
      expectReplayOf(again, first);
    });
  });

  describe('PATCH /tasks/:id', () => {
    it('replays the stored 200 without applying the change again, even after a later change', async () => {
      const task = await createTask(owner);
      const key = newKey();
      const first = await app.call<Task>('PATCH', `/tasks/${task.id}`, { token: owner.token, body: { title: 'B' }, headers: withKey(key) });
      expect(first.status).toBe(200);
      expect(first.headers.get('etag')).toBe('"2"');
      // Someone changes it again without a key.
      expect((await app.call('PATCH', `/tasks/${task.id}`, { token: owner.token, body: { title: 'C' } })).status).toBe(200);
      const versions = await historyLength(owner, task.id);
      const events = await eventCount();

      const again = await app.call<Task>('PATCH', `/tasks/${task.id}`, { token: owner.token, body: { title: 'B' }, headers: withKey(key) });
      expectReplayOf(again, first);
      expect(again.body.title).toBe('B');
      expect(await historyLength(owner, task.id)).toBe(versions);
      expect(await eventCount()).toBe(events);
      expect((await app.call<Task>('GET', `/tasks/${task.id}`, { token: owner.token })).body.title).toBe('C');
    });

    it('another body under the same key is 422', async () => {
      const task = await createTask(owner);
      const key = newKey();
      expect((await app.call('PATCH', `/tasks/${task.id}`, { token: owner.token, body: { priority: 'HIGH' }, headers: withKey(key) })).status).toBe(200);
      const events = await eventCount();
      expectProblem(
        await app.call('PATCH', `/tasks/${task.id}`, { token: owner.token, body: { priority: 'LOW' }, headers: withKey(key) }),
        422,
        'IDEMPOTENCY_KEY_REUSED',
      );
      expect(await eventCount()).toBe(events);
      expect(await historyLength(owner, task.id)).toBe(2);
    });

    it('a 404 first response (unknown id) is replayed, even once the id would answer otherwise', async () => {
      const key = newKey();
      const id = randomUUID();
      const first = await app.call('PATCH', `/tasks/${id}`, { token: owner.token, body: { title: 'Ghost' }, headers: withKey(key) });
      expectProblem(first, 404);
      const again = await app.call('PATCH', `/tasks/${id}`, { token: owner.token, body: { title: 'Ghost' }, headers: withKey(key) });
      expectReplayOf(again, first);
      expectProblem(again, 404);
    });

    it('a 412 first response (stale If-Match) is replayed', async () => {
      const task = await createTask(owner);
      const key = newKey();
      const headers = { ...withKey(key), 'if-match': '"7"' };
      const first = await app.call('PATCH', `/tasks/${task.id}`, { token: owner.token, body: { title: 'Late' }, headers });
      expectProblem(first, 412);
      expectReplayOf(await app.call('PATCH', `/tasks/${task.id}`, { token: owner.token, body: { title: 'Late' }, headers }), first);
      expect(await historyLength(owner, task.id)).toBe(1);
    });
  });

  describe('DELETE /tasks/:id', () => {
    it('replays the 204 instead of answering 404 for the now deleted task, and appends nothing', async () => {
      const task = await createTask(owner);
      const key = newKey();
      const first = await app.call('DELETE', `/tasks/${task.id}`, { token: owner.token, headers: withKey(key) });
      expect(first.status).toBe(204);
      const events = await eventCount();

      const again = await app.call('DELETE', `/tasks/${task.id}`, { token: owner.token, headers: withKey(key) });
      expectReplayOf(again, first);
      expect(again.body).toBeNull();
      expect(await eventCount()).toBe(events);
      expect(await historyLength(owner, task.id)).toBe(2);

      // Without the key, the second delete is an ordinary 404.
      expectProblem(await app.call('DELETE', `/tasks/${task.id}`, { token: owner.token }), 404);
    });

    it('the same key on DELETE of another task is 422', async () => {
      const [a, b] = [await createTask(owner), await createTask(owner)];
      const key = newKey();
      expect((await app.call('DELETE', `/tasks/${a.id}`, { token: owner.token, headers: withKey(key) })).status).toBe(204);
      expectProblem(await app.call('DELETE', `/tasks/${b.id}`, { token: owner.token, headers: withKey(key) }), 422, 'IDEMPOTENCY_KEY_REUSED');
      expect((await app.call('GET', `/tasks/${b.id}`, { token: owner.token })).status).toBe(200);
    });
  });

  describe('POST /tasks/batch', () => {
    it('replays the first results (all successful) instead of reporting the deleted tasks as failures', async () => {
      const tasks = [await createTask(owner), await createTask(owner)];
      const key = newKey();
      const body = { tasks: tasks.map((t) => t.id), action: 'delete' };
      const first = await app.call('POST', '/tasks/batch', { token: owner.token, body, headers: withKey(key) });
      expect(first.status).toBe(200);
      expect(first.body.results.map((r: { success: boolean }) => r.success)).toEqual([true, true]);
      const events = await eventCount();

      const again = await app.call('POST', '/tasks/batch', { token: owner.token, body, headers: withKey(key) });
      expectReplayOf(again, first);
      expect(await eventCount()).toBe(events);

      // The control: without the key, the same batch now fails for each id.
      const fresh = await app.call('POST', '/tasks/batch', { token: owner.token, body });
      expect(fresh.body.results.map((r: { success: boolean }) => r.success)).toEqual([false, false]);
    });

    it('another list under the same key is 422', async () => {
      const [a, b] = [await createTask(owner), await createTask(owner)];
      const key = newKey();
      expect((await app.call('POST', '/tasks/batch', { token: owner.token, body: { tasks: [a.id], action: 'complete' }, headers: withKey(key) })).status).toBe(200);
      const events = await eventCount();
      expectProblem(
        await app.call('POST', '/tasks/batch', { token: owner.token, body: { tasks: [a.id, b.id], action: 'complete' }, headers: withKey(key) }),
        422,
        'IDEMPOTENCY_KEY_REUSED',
      );
      expect(await eventCount()).toBe(events);
      expect((await app.call<Task>('GET', `/tasks/${b.id}`, { token: owner.token })).body.status).toBe('PENDING');
    });
  });

  it('GET ignores the header', async () => {
    const key = newKey();
    const first = await app.call('GET', '/tasks/stats', { token: owner.token, headers: withKey(key) });
    await createTask(owner);
    const second = await app.call('GET', '/tasks/stats', { token: owner.token, headers: withKey(key) });
    expect(second.headers.get('idempotent-replayed')).toBeNull();
    expect(second.body.total).toBe(first.body.total + 1);
  });
});
