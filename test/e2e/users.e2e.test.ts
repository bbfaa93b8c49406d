import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { expectInvalidFields, expectProblem, GENEROUS_LIMITS } from './expectations.js';

let app: TestApp;
let adminToken: string;

const changeRole = (token: string, userId: string, body: unknown) => app.call('PATCH', `/users/${userId}`, { token, body });

/**
 * A new user whose registration the users read model already holds: their own read waits for
 * their write, so an admin listing afterwards sees them without depending on projection lag.
 */
const registeredUser = async (name?: string) => {
  const user = await app.newUser(name);
  expect((await app.call('GET', '/users/me', { token: user.token })).status).toBe(200);
  return user;
};

describe('users and operations (e2e)', () => {
  beforeAll(async () => {
    app = await startTestApp(GENEROUS_LIMITS);
    adminToken = (await app.admin()).token;
  });
  afterAll(() => app?.close());

  describe('GET /users/me', () => {
    it('200 with the caller, right after registering, without secrets', async () => {
      const user = await app.newUser('Me Myself');
      const res = await app.call('GET', '/users/me', { token: user.token });

      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: user.userId, email: user.email, name: 'Me Myself', role: 'user' });
      expect(JSON.stringify(res.body)).not.toMatch(/password|hash/i);
    });

    it('401 without a token', async () => {
      expectProblem(await app.call('GET', '/users/me'), 401);
    });
  });

  describe('GET /users', () => {
    it('403 problem+json for a user', async () => {
      const user = await registeredUser();
      expectProblem(await app.call('GET', '/users', { token: user.token }), 403);
    });

    it('200 for an admin, paginated, with the seeded users and no secrets', async () => {
      const user = await registeredUser();
      const res = await app.call('GET', '/users?limit=100', { token: adminToken });

      expect(res.status).toBe(200);
      expect(res.body.meta).toMatchObject({ page: 1, limit: 100, total: expect.any(Number), totalPages: expect.any(Number) });
      const emails = (res.body.data as { email: string }[]).map((u) => u.email);
      expect(emails).toEqual(expect.arrayContaining(['admin@example.com', 'user@example.com', user.email]));
      expect(res.body.meta.total).toBe(res.body.data.length);
      expect(JSON.stringify(res.body)).not.toMatch(/password|hash/i);
    });

    it('pages are disjoint and follow meta', async () => {
      await registeredUser();
      const all = (await app.call('GET', '/users?limit=100', { token: adminToken })).body;
      const first = await app.call('GET', '/users?page=1&limit=1', { token: adminToken });
      const second = await app.call('GET', '/users?page=2&limit=1', { token: adminToken });

      expect(first.body.meta).toEqual({ total: all.meta.total, page: 1, limit: 1, totalPages: all.meta.total });
      expect(first.body.data).toHaveLength(1);
      expect(second.body.data).toHaveLength(1);
      expect(second.body.data[0].id).not.toBe(first.body.data[0].id);
    });

    it('defaults to page 1, limit 10', async () => {
      const res = await app.call('GET', '/users', { token: adminToken });
      expect(res.body.meta).toMatchObject({ page: 1, limit: 10 });
    });

    it('400 for an invalid page or limit', async () => {
      expectProblem(await app.call('GET', '/users?page=0', { token: adminToken }), 400);
      expectProblem(await app.call('GET', '/users?limit=101', { token: adminToken }), 400);
      expectProblem(await app.call('GET', '/users?limit=ten', { token: adminToken }), 400);
    });
  });

  describe('PATCH /users/:id', () => {
    it('200 for an admin; the promoted user gains admin rights on the next refresh', async () => {
      const user = await app.newUser('Soon Admin');
      const res = await changeRole(adminToken, user.userId, { role: 'admin' });

      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: user.userId, role: 'admin' });
      expect(JSON.stringify(res.body)).not.toMatch(/password|hash/i);

      const refreshed = await app.call('POST', '/auth/refresh', { body: { refresh_token: user.refreshToken } });
      expect(refreshed.status).toBe(200);
      expect(refreshed.body.user.role).toBe('admin');
      expect((await app.call('GET', '/users', { token: refreshed.body.access_token })).status).toBe(200);
    });

    it('the admin sees the new role in GET /users right away', async () => {
      const user = await app.newUser();
      await changeRole(adminToken, user.userId, { role: 'admin' });
      const listed = (await app.call('GET', '/users?limit=100', { token: adminToken })).body.data as { id: string; role: string }[];
      expect(listed.find((u) => u.id === user.userId)?.role).toBe('admin');
    });

    it('403 for a user, even on themselves', async () => {
      const user = await app.newUser();
      const other = await app.newUser();
      expectProblem(await changeRole(user.token, other.userId, { role: 'admin' }), 403);
      expectProblem(await changeRole(user.token, user.userId, { role: 'admin' }), 403);
      expect((await app.call('GET', '/users/me', { token: user.token })).body.role).toBe('user');
    });

    it('400 for a role that does not exist, or none', async () => {
      const user = await app.newUser();
      expectInvalidFields(await changeRole(adminToken, user.userId, { role: 'superuser' }), ['role']);
      expectInvalidFields(await changeRole(adminToken, user.userId, {}), ['role']);
    });

    it('400 for a malformed id', async () => {
      expectProblem(await changeRole(adminToken, 'not-a-uuid', { role: 'admin' }), 400);
    });

    it('404 for an unknown user', async () => {
      expectProblem(await changeRole(adminToken, randomUUID(), { role: 'admin' }), 404);
    });
  });

  describe('routing and health', () => {
    it('an unknown route is 404 problem+json', async () => {
      const res = await app.call('GET', '/no/such/route', { token: adminToken });
      expectProblem(res, 404);
    });

    it('every response echoes a correlation id', async () => {
      const given = await app.call('GET', '/health/live', { headers: { 'x-correlation-id': 'probe-123' } });
      expect(given.headers.get('x-correlation-id')).toBe('probe-123');
      const generated = await app.call('GET', '/health/live');
      expect(generated.headers.get('x-correlation-id')).toMatch(/\S+/);
    });

    it('GET /health/live is 200 without a token', async () => {
      const res = await app.call('GET', '/health/live');
      expect(res.status).toBe(200);
    });

    it('GET /health/ready is 200 when PostgreSQL is up', async () => {
      const res = await app.call('GET', '/health/ready');
      expect(res.status).toBe(200);
    });
  });
});
