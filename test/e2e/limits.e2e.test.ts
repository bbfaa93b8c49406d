import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BODY_LIMIT } from '../../src/http/app.js';
import { startTestApp, type ApiResponse, type TestApp } from '../support/app.js';
import { eventually } from '../support/process.js';
import { connectTestRedis, hasRedisServer, NO_REDIS_REASON, startRedisServer } from '../support/redis.js';
import { expectInvalidFields, expectProblem, GENEROUS_LIMITS } from './expectations.js';

const PASSWORD = 'a long enough password';
const uniqueEmail = () => `limits-${randomUUID().slice(0, 8)}@test.example`;

/** Each scenario gets its own service and database, so its counters start at zero. */
const apps: TestApp[] = [];
const startWith = async (env: Record<string, string>) => {
  const app = await startTestApp({ ...GENEROUS_LIMITS, ...env });
  apps.push(app);
  return app;
};
const closeAll = () => Promise.all(apps.splice(0).map((a) => a.close()));

const expectRateLimitHeaders = (res: ApiResponse, limit: number) => {
  expect(res.headers.get('ratelimit-limit')).toBe(String(limit));
  expect(Number(res.headers.get('ratelimit-remaining'))).toBeGreaterThanOrEqual(0);
  expect(Number(res.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
};

const expectTooMany = (res: ApiResponse, code?: string) => {
  expectProblem(res, 429, code);
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter) && retryAfter > 0, `Retry-After: ${res.headers.get('retry-after')}`).toBe(true);
};

describe('rate limits (e2e)', () => {
  afterEach(closeAll);

  describe('RATE_LIMIT_PER_MINUTE, per signed-in client', () => {
    it('5 requests pass with RateLimit-* headers counting down; the 6th is 429 with Retry-After', async () => {
      const app = await startWith({ RATE_LIMIT_PER_MINUTE: '5' });
      const user = await app.newUser();

      const remaining: number[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await app.call('GET', '/tasks', { token: user.token });
        expect(res.status).toBe(200);
        expectRateLimitHeaders(res, 5);
        remaining.push(Number(res.headers.get('ratelimit-remaining')));
      }
      expect(remaining).toEqual([4, 3, 2, 1, 0]);

      const limited = await app.call('GET', '/tasks', { token: user.token });
      expectTooMany(limited, 'RATE_LIMITED');
      expectRateLimitHeaders(limited, 5);
      // Writes count against the same budget.
      expectTooMany(await app.call('POST', '/tasks', { token: user.token, body: { title: 'Too late' } }));
    });

    it('is per user: another user on the same address still gets through', async () => {
      const app = await startWith({ RATE_LIMIT_PER_MINUTE: '5' });
      const [busy, calm] = [await app.newUser('Busy'), await app.newUser('Calm')];
      for (let i = 0; i < 5; i++) expect((await app.call('GET', '/tasks/stats', { token: busy.token })).status).toBe(200);
      expectTooMany(await app.call('GET', '/tasks/stats', { token: busy.token }));

      const other = await app.call('GET', '/tasks/stats', { token: calm.token });
      expect(other.status).toBe(200);
      expect(other.headers.get('ratelimit-remaining')).toBe('4');
    });

    it('a rejected (429) write appends nothing', async () => {
      const app = await startWith({ RATE_LIMIT_PER_MINUTE: '1' });
      const user = await app.newUser();
      expect((await app.call('POST', '/tasks', { token: user.token, body: { title: 'First' } })).status).toBe(201);
      const [{ count }] = await app.db.knex('events').count<{ count: string }[]>({ count: '*' });
      expectTooMany(await app.call('POST', '/tasks', { token: user.token, body: { title: 'Second' } }));
      const [{ count: after }] = await app.db.knex('events').count<{ count: string }[]>({ count: '*' });
      expect(after).toBe(count);
    });
  });

  describe('AUTH_RATE_LIMIT_PER_MINUTE, per IP on /auth/*', () => {
    it('counts /auth/register and /auth/login together; the 4th call from one address is 429', async () => {
      const app = await startWith({ AUTH_RATE_LIMIT_PER_MINUTE: '3' });
      const email = uniqueEmail();
      const registered = await app.call('POST', '/auth/register', { body: { email, name: 'Once', password: PASSWORD } });
      expect(registered.status).toBe(201);
      expectRateLimitHeaders(registered, 3);
      expect((await app.call('POST', '/auth/login', { body: { email, password: PASSWORD } })).status).toBe(200);
      expect((await app.call('POST', '/auth/login', { body: { email, password: 'wrong password' } })).status).toBe(401);

      expectTooMany(await app.call('POST', '/auth/login', { body: { email, password: PASSWORD } }), 'RATE_LIMITED');
      expectTooMany(await app.call('POST', '/auth/register', { body: { email: uniqueEmail(), name: 'Twice', password: PASSWORD } }));
    });

    it('another address (X-Forwarded-For from a trusted local proxy) has its own budget', async () => {
      const app = await startWith({ AUTH_RATE_LIMIT_PER_MINUTE: '2' });
      const from = (ip: string) => ({ 'x-forwarded-for': ip });
      for (let i = 0; i < 2; i++)
        expect((await app.call('POST', '/auth/login', { body: { email: uniqueEmail(), password: PASSWORD }, headers: from('203.0.113.7') })).status).toBe(401);
      expectTooMany(await app.call('POST', '/auth/login', { body: { email: uniqueEmail(), password: PASSWORD }, headers: from('203.0.113.7') }));

      const elsewhere = await app.call('POST', '/auth/register', {
        body: { email: uniqueEmail(), name: 'Elsewhere', password: PASSWORD },
        headers: from('198.51.100.9'),
      });
      expect(elsewhere.status).toBe(201);
    });

    it('does not touch the API budget: a signed-in user is not limited by /auth traffic', async () => {
      const app = await startWith({ AUTH_RATE_LIMIT_PER_MINUTE: '1' });
      const user = await app.newUser();
      expectTooMany(await app.call('POST', '/auth/login', { body: { email: user.email, password: user.password } }));
      expect((await app.call('GET', '/users/me', { token: user.token })).status).toBe(200);
    });
  });

  describe('LOGIN_MAX_FAILURES, per account', () => {
    const login = (app: TestApp, email: string, password: string) => app.call('POST', '/auth/login', { body: { email, password } });

    it('after N wrong passwords the next login is 429 even with the right password; another account still signs in', async () => {
      const app = await startWith({ LOGIN_MAX_FAILURES: '3' });
      const victim = await app.newUser('Victim');
      const bystander = await app.newUser('Bystander');

      for (let i = 0; i < 3; i++) expectProblem(await login(app, victim.email, `guess number ${i}`), 401);
      const locked = await login(app, victim.email, victim.password);
      expectTooMany(locked, 'TOO_MANY_LOGIN_FAILURES');
      // The same account under another spelling of its address is the same account.
      expectTooMany(await login(app, victim.email.toUpperCase(), victim.password));

      expect((await login(app, bystander.email, bystander.password)).status).toBe(200);
    });

    it('successful logins do not count as failures', async () => {
      const app = await startWith({ LOGIN_MAX_FAILURES: '3' });
      const user = await app.newUser();

      for (let i = 0; i < 2; i++) expectProblem(await login(app, user.email, 'wrong password'), 401);
      for (let i = 0; i < 5; i++) expect((await login(app, user.email, user.password)).status).toBe(200);
      // The third failure is still answered as a failure, not as 429 …
      expectProblem(await login(app, user.email, 'wrong password'), 401);
      // … and only then is the account locked.
      expectTooMany(await login(app, user.email, user.password));
    });

    it('a 400 (malformed credentials) does not count as a failure', async () => {
      const app = await startWith({ LOGIN_MAX_FAILURES: '1' });
      const user = await app.newUser();
      for (let i = 0; i < 3; i++) expectProblem(await app.call('POST', '/auth/login', { body: { email: user.email } }), 400);
      expect((await login(app, user.email, user.password)).status).toBe(200);
    });
  });
});

const ownRedis = hasRedisServer();
if (!ownRedis) console.log(`rate limits through a Redis outage ${NO_REDIS_REASON}`);

/** With REDIS_URL the counters are shared; while Redis fails each instance counts on its own. */
describe.skipIf(!ownRedis)(`rate limits through a Redis outage (e2e)${ownRedis ? '' : ` (${NO_REDIS_REASON})`}`, () => {
  afterEach(closeAll);

  it('while Redis is down the limit still holds (in-process counters), and counting returns to Redis after', { timeout: 60_000 }, async () => {
    const redis = await startRedisServer();
    const client = connectTestRedis(redis.url);
    try {
      const app = await startWith({ REDIS_URL: redis.url, RATE_LIMIT_PER_MINUTE: '5' });
      const user = await app.newUser();
      const stats = () => app.call('GET', '/tasks/stats', { token: user.token });
      expect((await stats()).status).toBe(200);
      expect(await client.get(`taskflow:rl:api:user:${user.userId}`)).toBe('1');

      await redis.stop();
      const during = [];
      for (let i = 0; i < 6; i++) during.push(await stats());
      expect(during.slice(0, 5).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      expectTooMany(during[5]!, 'RATE_LIMITED');

      // Redis back on the same port (empty: no counters, no scripts): counting goes there again.
      const again = await startRedisServer(redis.port);
      try {
        const fresh = await app.newUser();
        await eventually(async () => (await app.call('GET', '/tasks/stats', { token: fresh.token })).status === 200 && (await client.get(`taskflow:rl:api:user:${fresh.userId}`)) !== null, 20_000, 'counts in Redis again');
      } finally {
        // Closed while its Redis is up: closing the job queue waits for Redis.
        await closeAll();
        await again.stop();
      }
    } finally {
      client.disconnect();
      await redis.stop();
    }
  });
});

describe('request hardening (e2e)', () => {
  let app: TestApp;
  let token: string;
  const eventCount = async () => Number((await app.db.knex('events').count<{ count: string }[]>({ count: '*' }))[0]!.count);

  beforeAll(async () => {
    app = await startTestApp(GENEROUS_LIMITS);
    token = (await app.newUser()).token;
  });
  afterAll(() => app?.close());

  it(`413 problem+json for a body over ${BODY_LIMIT}, on protected and public routes; nothing appended`, async () => {
    expect(BODY_LIMIT).toBe('100kb');
    const events = await eventCount();
    const big = { title: 'Big', description: 'x'.repeat(101 * 1024) };
    expectProblem(await app.call('POST', '/tasks', { token, body: big }), 413, 'PAYLOAD_TOO_LARGE');
    expectProblem(await app.call('POST', '/auth/register', { body: { email: uniqueEmail(), name: 'x'.repeat(120 * 1024), password: PASSWORD } }), 413);
    expect(await eventCount()).toBe(events);
  });

  it('a body just under the limit is parsed (and refused by validation, not by size)', async () => {
    const res = await app.call('POST', '/tasks', { token, body: { title: 'Near', description: 'x'.repeat(90 * 1024) } });
    expectInvalidFields(res, ['description']);
  });

  it('415 problem+json for text/plain, form data or XML bodies', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await app.call('POST', '/tasks', { token, rawBody: 'title=Sneaky', headers: { 'content-type': type } });
      expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
    expectProblem(await app.call('POST', '/auth/login', { rawBody: '{"email":"a@b.c","password":"x"}', headers: { 'content-type': 'text/plain' } }), 415);
  });

  it('415 for a body without any content type', async () => {
    expectProblem(await app.call('POST', '/tasks', { token, rawBody: '{"title":"No type"}' }), 415);
  });

  it('application/json with a charset is fine', async () => {
    const res = await app.call('POST', '/tasks', { token, rawBody: '{"title":"Charset"}', headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(res.status).toBe(201);
  });

  it('400 naming every unknown field', async () => {
    const res = await app.call('POST', '/tasks', { token, body: { title: 'Extra', colour: 'red', isOverdue: true, version: 9 } });
    expectInvalidFields(res, ['colour', 'isOverdue', 'version']);
    expectInvalidFields(await app.call('POST', '/auth/login', { body: { email: 'a@b.c', password: 'x', remember: true } }), ['remember']);
    expectInvalidFields(await app.call('POST', '/tasks/batch', { token, body: { tasks: [randomUUID()], action: 'delete', force: true } }), ['force']);
  });

  it('400 INVALID_JSON for malformed JSON', async () => {
    for (const rawBody of ['{"title":', '{title: "x"}', "{'title':'x'}", '[1,2', 'undefined']) {
      const res = await app.call('POST', '/tasks', { token, rawBody, headers: { 'content-type': 'application/json' } });
      expectProblem(res, 400, 'INVALID_JSON');
    }
  });

  it('400 when the JSON body is not an object', async () => {
    for (const body of [[], 'a string', 42, null, true]) {
      const res = await app.call('POST', '/tasks', { token, rawBody: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      expectProblem(res, 400);
    }
  });
});
