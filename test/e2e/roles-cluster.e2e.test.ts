import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { expectProblem, GENEROUS_LIMITS } from './expectations.js';

type Session = Readonly<{ token: string; refreshToken: string; userId: string }>;

/** Two instances of one cluster (one database): a role change through one holds on the other at once. */
describe('role changes across instances (e2e)', () => {
  let a: TestApp;
  let b: TestApp;
  let chief: Session;

  beforeAll(async () => {
    a = await startTestApp(GENEROUS_LIMITS);
    b = await startTestApp(GENEROUS_LIMITS, { db: a.db });
    chief = await a.login('admin@example.com', 'admin123');
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const promote = async (role: 'admin' | 'user', userId: string) => {
    const res = await a.call('PATCH', `/users/${userId}`, { token: chief.token, body: { role } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  };

  it('an admin demoted through instance A is refused admin by instance B on the very next request', async () => {
    const deputy = await a.newUser('Deputy');
    const bystander = await a.newUser('Bystander');
    const task = await a.call('POST', '/tasks', { token: bystander.token, body: { title: 'Not the deputy’s' } });
    expect(task.status).toBe(201);
    await promote('admin', deputy.userId);
    const { token } = await a.login(deputy.email, deputy.password);

    // B has served this token as admin, so anything it remembered about the roster is warm.
    for (let i = 0; i < 3; i++) expect((await b.call('GET', '/admin/projections', { token })).status).toBe(200);
    expect((await b.call('GET', `/tasks/${task.body.id}`, { token })).status).toBe(200);

    await promote('user', deputy.userId);

    // No pause: each of these is "the next request".
    expectProblem(await b.call('GET', '/admin/projections', { token }), 403);
    expectProblem(await b.call('PATCH', `/tasks/${task.body.id}`, { token, body: { title: 'Taken over' } }), 404);
    expectProblem(await b.call('GET', '/users', { token }), 403);
    expectProblem(await a.call('GET', '/admin/projections', { token }), 403);
    const unchanged = await b.call('GET', `/tasks/${task.body.id}`, { token: bystander.token });
    expect(unchanged.body.title).toBe('Not the deputy’s');
  });

  it('someone promoted keeps acting as a user with their old token, and as admin from the next refresh', async () => {
    const rising = await a.newUser('Rising');
    await promote('admin', rising.userId);
    expectProblem(await b.call('GET', '/users', { token: rising.token }), 403);

    const refreshed = await b.call('POST', '/auth/refresh', { body: { refresh_token: rising.refreshToken } });
    expect(refreshed.status).toBe(200);
    expect((await b.call('GET', '/users', { token: refreshed.body.access_token })).status).toBe(200);
  });
});
