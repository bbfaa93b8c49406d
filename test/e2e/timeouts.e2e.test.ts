import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compose, type System } from '../../src/compose.js';
import { loadConfig } from '../../src/config.js';
import { REQUEST_STATEMENT_TIMEOUT_MS } from '../../src/infra/db/knex.js';
import { silentLogger } from '../../src/infra/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startFreezableProxy, type FreezableProxy } from '../support/freezableProxy.js';
import { eventually } from '../support/process.js';
import { GENEROUS_LIMITS } from './expectations.js';

/** The bound issue 11 sets on every request, whatever a dependency does. */
const NO_REQUEST_PAST_MS = 10_000;

/**
 * A PostgreSQL that hangs (a proxy in front of it stops passing anything, connections stay
 * open): every request gets a prompt 503 DEPENDENCY_UNAVAILABLE with Retry-After from a
 * connection, acquire or statement timeout, and the service recovers when it answers again.
 */
describe('a PostgreSQL that stops answering (e2e)', () => {
  let db: TestDatabase;
  let proxy: FreezableProxy;
  let system: System;
  let server: Server;
  let base: string;
  let token: string;
  let taskId: string;

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const began = performance.now();
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body ? { body: JSON.stringify(body) } : {}),
      // A request still unanswered past the bound fails the test (as a hang), rather than waiting forever.
      signal: AbortSignal.timeout(NO_REQUEST_PAST_MS),
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { code?: string }, ms: performance.now() - began };
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    proxy = await startFreezableProxy(db.url);
    const jwtSecret = 'timeout-secret-that-is-long-enough-0123456789';
    const config = loadConfig({ ...GENEROUS_LIMITS, DATABASE_URL: proxy.url, JWT_SECRET: jwtSecret, LOG_LEVEL: 'error' });
    system = await compose(config, { url: proxy.url, embedded: false, jwtSecret, close: async () => {} }, {
      logger: silentLogger(),
      poolSize: 4,
      statementTimeoutMs: REQUEST_STATEMENT_TIMEOUT_MS,
    });
    server = createServer(system.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const registered = await fetch(`${base}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `hang-${randomUUID().slice(0, 8)}@test.example`, name: 'Hang', password: 'long enough password' }),
    });
    token = ((await registered.json()) as { access_token: string }).access_token;
    taskId = ((await call('POST', '/tasks', { title: 'before the hang' })).body as { id?: string }).id!;
    // Caught up, so no read below waits for the projections (that would be READ_MODEL_BEHIND).
    await eventually(async () => (await call('GET', `/tasks/${taskId}`)).status === 200, 10_000, 'the task projected');
    await eventually(async () => (await call('GET', '/users/me')).status === 200, 10_000, 'the users projection caught up');
  }, 60_000);

  afterAll(async () => {
    proxy?.thaw();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await system?.close();
    await proxy?.close();
    await db?.drop();
  });

  it('answers every request with 503 DEPENDENCY_UNAVAILABLE and Retry-After, none past 10 s, then recovers', { timeout: 60_000 }, async () => {
    proxy.freeze();
    // More requests than connections in the pool: some wait to acquire one, others wait on a query or a connection attempt.
    const requests = [
      ...Array.from({ length: 4 }, (_, i) => () => call('POST', '/tasks', { title: `during the hang ${i}` })),
      ...Array.from({ length: 4 }, () => () => call('GET', `/tasks?search=${randomUUID()}`)),
      () => call('GET', `/tasks/${taskId}/history`),
      () => call('PATCH', `/tasks/${taskId}`, { title: 'changed during the hang' }),
      () => call('POST', '/tasks', { title: 'keyed during the hang' }, { 'idempotency-key': randomUUID() }),
      () => call('GET', '/users/me'),
    ];
    const answers = await Promise.all(requests.map((send) => send()));
    console.log(`hung PostgreSQL: ${answers.length} requests answered in ${answers.map((a) => Math.round(a.ms)).join(', ')} ms`);
    for (const answer of answers) {
      expect(answer.status, JSON.stringify(answer.body)).toBe(503);
      expect(answer.body.code).toBe('DEPENDENCY_UNAVAILABLE');
      expect(Number(answer.retryAfter)).toBeGreaterThan(0);
    }
    const ready = await call('GET', '/health/ready');
    expect(ready.status).toBe(503);

    proxy.thaw();
    const created = await eventually(async () => {
      const res = await call('POST', '/tasks', { title: 'after the hang' });
      return res.status === 201 && res;
    }, 20_000, 'a write after the hang');
    expect(created.status).toBe(201);
    expect((await call('GET', '/health/ready')).status).toBe(200);
  });
});
