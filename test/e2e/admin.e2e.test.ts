import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.js';
import { createAuthenticate } from '../../src/http/authenticate.js';
import { adminRoutes } from '../../src/http/routes/admin.js';
import { silentLogger } from '../../src/infra/logger.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { responseProblems } from '../support/openapi.js';
import { expectProblem } from './expectations.js';

// GET /admin/projections and GET /admin/audit/verify. Until the composition root mounts
// adminRoutes, they are served here by an app of their own on the test app's database and
// signing secret; every response is checked against the OpenAPI document all the same.

const JWT_SECRET = 'test-secret-that-is-long-enough-0123456789';

let app: TestApp;
let server: Server;
let baseUrl: string;

const get = async (path: string, token: string) => {
  const response = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const body = await response.json();
  const problems = responseProblems('GET', path, response.status, response.headers.get('content-type'), body);
  expect(problems, JSON.stringify(body)).toEqual([]);
  return { status: response.status, headers: response.headers, body };
};

describe('admin operations over HTTP (e2e)', () => {
  let adminToken: string;
  let userToken: string;
  let taskId: string;

  beforeAll(async () => {
    app = await startTestApp();
    const admin = createApp({
      logger: silentLogger(),
      publicRoutes: [],
      authenticate: createAuthenticate(JWT_SECRET),
      protectedRoutes: [adminRoutes({ knex: app.system.knex, eventStore: app.system.eventStore })],
    });
    server = createServer(admin);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    adminToken = (await app.admin()).token;
    userToken = (await app.login('user@example.com', 'user123')).token;
    const created = await app.call('POST', '/tasks', { token: userToken, body: { title: 'Audit me' } });
    taskId = created.body.id;
    await app.call('GET', `/tasks/${taskId}`, { token: userToken });
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await app?.close();
  });

  it('GET /admin/projections: each projection with its checkpoint, lag, owner and state', async () => {
    const res = await get('/admin/projections', adminToken);
    expect(res.status).toBe(200);
    expect(res.body.data.map((p: { name: string }) => p.name)).toEqual(['tasks', 'users', 'notification-jobs']);
    expect(res.body.data[0]).toMatchObject({ name: 'tasks', kind: 'read-model', state: 'live', lastError: null, rebuild: null });
    expect(res.body.data[0].owner).toEqual(expect.any(String));
  });

  it('GET /admin/audit/verify: ok with no differences, then the tampered row', async () => {
    const healthy = await get('/admin/audit/verify', adminToken);
    expect(healthy.status).toBe(200);
    expect(healthy.body.ok).toBe(true);
    expect(healthy.body.data.map((r: { projection: string; differenceCount: number }) => [r.projection, r.differenceCount])).toEqual([
      ['tasks', 0],
      ['users', 0],
    ]);

    await app.db.knex('tasks').where({ id: taskId }).update({ status: 'COMPLETED' });
    const tampered = await get('/admin/audit/verify?projection=tasks', adminToken);
    expect(tampered.body.ok).toBe(false);
    expect(tampered.body.data).toHaveLength(1);
    expect(tampered.body.data[0].differences).toEqual([{ table: 'tasks', id: taskId, kind: 'different', field: 'status', expected: 'PENDING', actual: 'COMPLETED' }]);
    await app.db.knex('tasks').where({ id: taskId }).update({ status: 'PENDING' });
  });

  it('is for admins only (403), and refuses unknown parameters (400)', async () => {
    expectProblem(await get('/admin/projections', userToken), 403, 'ADMIN_ONLY');
    expectProblem(await get('/admin/audit/verify', userToken), 403, 'ADMIN_ONLY');
    expectProblem(await get('/admin/audit/verify?projection=notification-jobs', adminToken), 400);
    expectProblem(await get('/admin/projections?verbose=1', adminToken), 400);
  });
});
