import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.js';
import { silentLogger } from '../../src/infra/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually, startServerProcess, type ServerProcess } from '../support/process.js';
import { GENEROUS_LIMITS } from './expectations.js';

type Answer = Readonly<{ status: number; body: string; connection: string | undefined; at: number }>;

/** One request on a keep-alive agent; resolves with the whole answer, or rejects if it was cut. */
const request = (agent: http.Agent, url: string, method: string, path: string, token: string, body?: unknown) => {
  let written!: () => void;
  const sent = new Promise<void>((resolve) => (written = resolve));
  const answer = new Promise<Answer>((resolve, reject) => {
    const req = http.request(new URL(path, url), { method, agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => (res.complete ? resolve({ status: res.statusCode!, body: text, connection: res.headers.connection, at: performance.now() }) : reject(new Error('cut'))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('finish', written);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
  return { sent, answer };
};

describe('SIGTERM under load (e2e, a real process)', () => {
  let db: TestDatabase;
  let server: ServerProcess;
  let token: string;
  const INSTANCE = `draining-${randomUUID().slice(0, 6)}`;

  beforeAll(async () => {
    db = await createTestDatabase();
    // A long lease: a lock left to expire rather than released would still be live after the exit.
    server = await startServerProcess({ ...GENEROUS_LIMITS, DATABASE_URL: db.url, JWT_SECRET: 'drain-secret-that-is-long-enough-0123456789', INSTANCE_ID: INSTANCE, LOCK_LEASE_MS: '60000' });
    const res = await fetch(`${server.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `drain-${randomUUID().slice(0, 8)}@test.example`, name: 'Drain', password: 'long enough password' }),
    });
    token = ((await res.json()) as { access_token: string }).access_token;
  }, 90_000);
  afterAll(async () => {
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    await db?.drop();
  });

  const liveLeasesOf = (holder: string) => db.knex('lock_leases').where({ holder }).andWhereRaw('expires_at > now()').select('name');

  it('answers every request sent before the signal, exits 0 within the grace period, and frees its locks at once', { timeout: 90_000 }, async () => {
    await eventually(async () => (await liveLeasesOf(INSTANCE)).length >= 3, 20_000, 'the projection locks held');
    const ids: string[] = [];
    for (let i = 0; i < 240; i++) {
      const res = await fetch(`${server.url}/tasks`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"title":"load"}' });
      ids.push(((await res.json()) as { id: string }).id);
    }

    // Keep-alive connections, all open before the signal; on each, one request in flight when it comes.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 24 });
    await Promise.all(Array.from({ length: 24 }, () => request(agent, server.url, 'GET', '/health/live', token).answer));
    const inFlight = [
      ...Array.from({ length: 12 }, (_, k) => request(agent, server.url, 'POST', '/tasks/batch', token, { tasks: ids.slice(20 * k, 20 * k + 20), action: 'complete' })),
      ...Array.from({ length: 12 }, () => request(agent, server.url, 'GET', '/tasks?limit=100&status=COMPLETED', token)),
    ];
    await Promise.all(inFlight.map((r) => r.sent));
    await new Promise((resolve) => setTimeout(resolve, 50));

    const exited = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
    const signalled = performance.now();
    server.child.kill('SIGTERM');
    const answers = await Promise.allSettled(inFlight.map((r) => r.answer));
    const code = await exited;
    const drainMs = Math.round(performance.now() - signalled);
    const leases = await liveLeasesOf(INSTANCE);
    agent.destroy();

    const answered = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
    const duringDrain = answered.filter((a) => a.at > signalled);
    console.log(
      `SIGTERM: ${inFlight.length} requests in flight, ${answered.length - duringDrain.length} answered before the signal, ` +
        `${duringDrain.length} during the drain, ${inFlight.length - answered.length} cut; exit ${code} after ${drainMs} ms; live leases after: ${leases.length}`,
    );
    expect(answered.map((a) => a.status)).toEqual(Array(inFlight.length).fill(200));
    // The drain was exercised: requests in flight were answered, with their keep-alive connections
    // closed after the response (those already answering when the signal landed are closed as idle).
    expect(duringDrain.filter((a) => a.connection === 'close').length).toBeGreaterThan(0);
    expect(code).toBe(0);
    expect(leases).toEqual([]);
  });
});

describe('readiness while draining (e2e)', () => {
  const shutdown = new AbortController();
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    const app = createApp({
      logger: silentLogger(),
      shutdown: shutdown.signal,
      publicRoutes: [(router) => router.get('/health/ready', (_req, res) => void res.json({ status: 'ready', checks: {} }))],
      authenticate: (_req, _res, next) => next(),
      protectedRoutes: [],
    });
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('/health/ready answers 503 from the moment the drain begins', async () => {
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    shutdown.abort();
    const res = await fetch(`${base}/health/ready`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'unavailable', checks: { server: { status: 'down', error: 'shutting down' } } });
  });
});
