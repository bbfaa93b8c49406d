import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/** Two API instances and a projector of their own, on one database: what a cluster behind a balancer sees. */
describe('read-your-writes across instances, with and without a Consistency-Token', () => {
  let db: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let projector: TestApp;
  let user: { token: string; userId: string };
  const env = { READ_YOUR_WRITES_TIMEOUT_MS: '1500' };
  const startProjector = () => startTestApp(env, { db, role: 'projector', instanceId: 'projector' });

  beforeAll(async () => {
    db = await createTestDatabase();
    projector = await startProjector();
    [a, b] = await Promise.all([startTestApp(env, { db, role: 'api', instanceId: 'a' }), startTestApp(env, { db, role: 'api', instanceId: 'b' })]);
    user = await a.newUser('Cluster user');
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a, b, projector].map((app) => app?.close()));
    await db?.drop();
  });

  const tokenOf = (res: { headers: Headers }) => res.headers.get('consistency-token');

  it('answers every 2xx command with a Consistency-Token', async () => {
    const registered = await b.call('POST', '/auth/register', { body: { email: `ct-${Date.now()}@test.example`, name: 'T', password: 'long enough password' } });
    expect(tokenOf(registered)).toEqual(expect.any(String));
    const created = await a.call('POST', '/tasks', { token: user.token, body: { title: 'tokens' } });
    const patched = await a.call('PATCH', `/tasks/${created.body.id}`, { token: user.token, body: { priority: 'HIGH' } });
    const batch = await a.call('POST', '/tasks/batch', { token: user.token, body: { tasks: [created.body.id], action: 'complete' } });
    const deleted = await a.call('DELETE', `/tasks/${created.body.id}`, { token: user.token });
    for (const res of [created, patched, batch, deleted]) {
      expect(res.status).toBeLessThan(300);
      expect(tokenOf(res)).toEqual(expect.any(String));
    }
  });

  it('reads through one instance what was just written through the other, 100 times each way', async () => {
    const created = await a.call('POST', '/tasks', { token: user.token, body: { title: 'v0' } });
    const id = created.body.id as string;
    let stale = 0;
    for (let i = 1; i <= 100; i++) {
      const [writer, reader] = i % 2 ? [a, b] : [b, a];
      const written = await writer.call('PATCH', `/tasks/${id}`, { token: user.token, body: { title: `v${i}` } });
      expect(written.status).toBe(200);
      // Odd rounds send the token back, even rounds rely on the user's last write alone.
      const headers: Record<string, string> = i % 4 < 2 ? { 'consistency-token': tokenOf(written)! } : {};
      const [one, list] = await Promise.all([
        reader.call('GET', `/tasks/${id}`, { token: user.token, headers }),
        reader.call('GET', '/tasks?limit=100', { token: user.token, headers }),
      ]);
      if (one.body.title !== `v${i}`) stale++;
      if (list.body.data.find((t: { id: string }) => t.id === id)?.title !== `v${i}`) stale++;
    }
    expect(stale).toBe(0);
  }, 60_000);

  it('refuses a token it did not issue', async () => {
    for (const token of ['garbage', 'MTIzLjQ1Ng.AAAAAAAAAAAAAAAAAAAAAA', '']) {
      const res = await b.call('GET', '/tasks', { token: user.token, headers: { 'consistency-token': token } });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('INVALID_CONSISTENCY_TOKEN');
    }
  });

  it('makes a token-carrying read wait, bounded, while the projector is away, then answers once it is back', async () => {
    const other = await b.newUser('Someone else');
    await projector.close();
    try {
      const created = await a.call('POST', '/tasks', { token: user.token, body: { title: 'while the projector is away' } });
      const started = Date.now();
      // Another user, with the writer's token: waits for the position, not for their own writes.
      const behind = await b.call('GET', '/tasks', { token: other.token, headers: { 'consistency-token': tokenOf(created)! } });
      expect(behind.status).toBe(503);
      expect(behind.body.code).toBe('READ_MODEL_BEHIND');
      expect(behind.headers.get('retry-after')).toEqual(expect.any(String));
      expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
      expect((await b.call('GET', `/tasks/${created.body.id}`, { token: user.token })).status).toBe(503);
    } finally {
      projector = await startProjector();
    }
    const mine = await b.call('GET', '/tasks?limit=100', { token: user.token });
    expect(mine.status).toBe(200);
    expect(mine.body.data.map((t: { title: string }) => t.title)).toContain('while the projector is away');
  }, 30_000);
});
