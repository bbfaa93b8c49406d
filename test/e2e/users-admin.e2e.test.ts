import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { expectProblem, GENEROUS_LIMITS } from './expectations.js';

type Session = Readonly<{ token: string; refreshToken: string; userId: string }>;

let app: TestApp;

const changeRole = (token: string, userId: string, role: string) => app.call('PATCH', `/users/${userId}`, { token, body: { role } });
const refresh = (refreshToken: string) => app.call('POST', '/auth/refresh', { body: { refresh_token: refreshToken } });
const roleClaim = (accessToken: string) => (jwt.decode(accessToken) as { role: string }).role;
const adminsIn = async (token: string) => {
  const res = await app.call('GET', '/users?limit=100', { token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return (res.body.data as { id: string; role: string }[]).filter((u) => u.role === 'admin').map((u) => u.id);
};

/** The roster is decided on the log; the demo admin is the only admin at first. */
describe('user administration (e2e)', () => {
  let first: Session;
  let second: Session;
  /** Whichever admin is left after the race below. */
  let survivorToken: string;

  beforeAll(async () => {
    app = await startTestApp(GENEROUS_LIMITS);
    first = await app.login('admin@example.com', 'admin123');
    second = await app.newUser('Second admin');
  });
  afterAll(() => app?.close());

  it('the only admin cannot demote themselves: 409 LAST_ADMIN, and stays admin', async () => {
    expectProblem(await changeRole(first.token, first.userId, 'user'), 409, 'LAST_ADMIN');
    expect((await app.call('GET', '/users/me', { token: first.token })).body.role).toBe('admin');
    const refreshed = await refresh(first.refreshToken);
    expect(refreshed.body.user.role).toBe('admin');
    // Refresh tokens rotate: keep the new one, and the old access token (still valid) for later.
    first = { ...first, refreshToken: refreshed.body.refresh_token };
  });

  it('setting a role someone already has changes nothing and appends nothing', async () => {
    const [{ count }] = await app.db.knex('events').count<{ count: string }[]>({ count: '*' });
    const res = await changeRole(first.token, first.userId, 'admin');
    expect(res.status).toBe(200);
    expect(res.body.role).toBe('admin');
    const [{ count: after }] = await app.db.knex('events').count<{ count: string }[]>({ count: '*' });
    expect(after).toBe(count);
  });

  it('after promoting a second user, the first admin can step down', async () => {
    const promoted = await changeRole(first.token, second.userId, 'admin');
    expect(promoted.status).toBe(200);
    expect(promoted.body).toMatchObject({ id: second.userId, role: 'admin' });

    const demoted = await changeRole(first.token, first.userId, 'user');
    expect(demoted.status).toBe(200);
    expect(demoted.body).toMatchObject({ id: first.userId, role: 'user' });
  });

  it('the demoted admin, still holding an access token that says admin, is refused PATCH /users/:id (403)', async () => {
    expect(roleClaim(first.token)).toBe('admin');
    const target = await app.newUser('Target');
    const res = await changeRole(first.token, target.userId, 'admin');
    expectProblem(res, 403);
    // Not even to take the role back.
    expectProblem(await changeRole(first.token, first.userId, 'admin'), 403);
    expect((await app.call('GET', '/users/me', { token: target.token })).body.role).toBe('user');
  });

  it('after the role change, POST /auth/refresh issues tokens and a user with the new role', async () => {
    const demoted = await refresh(first.refreshToken);
    expect(demoted.status).toBe(200);
    expect(demoted.body.user).toMatchObject({ id: first.userId, role: 'user' });
    expect(roleClaim(demoted.body.access_token)).toBe('user');
    expectProblem(await app.call('GET', '/users', { token: demoted.body.access_token }), 403);
    first = { ...first, token: demoted.body.access_token, refreshToken: demoted.body.refresh_token };

    const promoted = await refresh(second.refreshToken);
    expect(promoted.status).toBe(200);
    expect(promoted.body.user).toMatchObject({ id: second.userId, role: 'admin' });
    expect(roleClaim(promoted.body.access_token)).toBe('admin');
    second = { ...second, token: promoted.body.access_token, refreshToken: promoted.body.refresh_token };
    expect((await app.call('GET', '/users', { token: second.token })).status).toBe(200);
  });

  it('a fresh login also carries the new role', async () => {
    const res = await app.call('POST', '/auth/login', { body: { email: 'admin@example.com', password: 'admin123' } });
    expect(res.body.user.role).toBe('user');
    expect(roleClaim(res.body.access_token)).toBe('user');
  });

  it('the second admin is now the last one: 409 LAST_ADMIN for them too', async () => {
    expectProblem(await changeRole(second.token, second.userId, 'user'), 409, 'LAST_ADMIN');
    expect(await adminsIn(second.token)).toEqual([second.userId]);
  });

  it('two admins demoting each other at once: exactly one succeeds, one admin is left', async () => {
    const third = await app.newUser('Third admin');
    expect((await changeRole(second.token, third.userId, 'admin')).status).toBe(200);
    const thirdToken = (await refresh(third.refreshToken)).body.access_token as string;

    const [a, b] = await Promise.all([changeRole(second.token, third.userId, 'user'), changeRole(thirdToken, second.userId, 'user')]);
    const statuses = [a.status, b.status].sort();
    expect(statuses[0]).toBe(200);
    expect([403, 409]).toContain(statuses[1]);

    survivorToken = a.status === 200 ? second.token : thirdToken;
    expect(await adminsIn(survivorToken)).toHaveLength(1);
  });

  describe('GET /users pagination', () => {
    let adminToken: string;
    let total: number;

    beforeAll(async () => {
      adminToken = survivorToken;
      // The list must know every registered user: each one's own read waits for their registration.
      for (let i = 0; i < 3; i++) {
        const user = await app.newUser(`Paged ${i}`);
        await app.call('GET', '/users/me', { token: user.token });
      }
      total = (await app.call('GET', '/users?limit=100', { token: adminToken })).body.meta.total;
    });

    it('the admin found for the pagination tests can list users', async () => {
      expect((await app.call('GET', '/users', { token: adminToken })).status).toBe(200);
      expect(total).toBeGreaterThanOrEqual(8);
    });

    it('walks every page with limit 3: disjoint pages, right meta, every user once', async () => {
      const seen: string[] = [];
      const pages = Math.ceil(total / 3);
      for (let page = 1; page <= pages; page++) {
        const res = await app.call('GET', `/users?page=${page}&limit=3`, { token: adminToken });
        expect(res.status).toBe(200);
        expect(res.body.meta).toEqual({ total, page, limit: 3, totalPages: pages });
        expect(res.body.data.length).toBe(page < pages ? 3 : total - 3 * (pages - 1));
        seen.push(...res.body.data.map((u: { id: string }) => u.id));
      }
      expect(new Set(seen).size).toBe(total);
    });

    it('a page past the end is empty, with the same meta', async () => {
      const res = await app.call('GET', '/users?page=999&limit=10', { token: adminToken });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual([]);
      expect(res.body.meta).toMatchObject({ total, page: 999, limit: 10 });
    });

    it('defaults to page 1 and limit 10; limit 100 is the maximum', async () => {
      expect((await app.call('GET', '/users', { token: adminToken })).body.meta).toMatchObject({ page: 1, limit: 10 });
      expect((await app.call('GET', '/users?limit=100', { token: adminToken })).status).toBe(200);
    });

    it('400 for limit over 100, limit 0, page 0, non-numbers and unknown parameters', async () => {
      for (const query of ['limit=101', 'limit=1000', 'limit=0', 'page=0', 'page=-1', 'page=1.5', 'limit=ten', 'limit=&page=1', 'sort=name'])
        expectProblem(await app.call('GET', `/users?${query}`, { token: adminToken }), 400);
    });
  });
});
