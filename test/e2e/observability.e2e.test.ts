import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compose } from '../../src/compose.js';
import { loadConfig } from '../../src/config.js';
import { startEmbeddedPostgres } from '../../src/infra/db/embedded.js';
import { silentLogger } from '../../src/infra/logger.js';
import { createProjectionWatermarks, runProjection } from '../../src/projections/runtime.js';
import { tasksProjection } from '../../src/projections/tasks.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase } from '../support/database.js';
import { eventually } from '../support/process.js';

// An in-memory exporter registered before the app starts records every span of this process.
const exporter = new InMemorySpanExporter();
new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).register();

const SECRET = 'observability-secret-long-enough-0123456789';

const scrape = async (baseUrl: string) => {
  const res = await fetch(`${baseUrl}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
};
const sample = (text: string, name: string, labels: Record<string, string> = {}) => {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `) ? wanted.every((w) => l.includes(w)) : false);
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
};

describe('observability', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app?.close());

  it('exposes metrics with their labels after real traffic', async () => {
    const { token } = await app.login('user@example.com', 'user123');
    const created = await app.call('POST', '/tasks', { token, body: { title: 'measured' } });
    await app.call('PATCH', `/tasks/${created.body.id}`, { token, body: { title: 'measured again' }, headers: { 'if-match': '"9"' } });
    await app.call('GET', `/tasks/${created.body.id}`, { token });
    await new Promise((r) => setTimeout(r, 2100)); // past the writer's cache bypass
    await app.call('GET', `/tasks/${created.body.id}`, { token });
    await app.call('GET', `/tasks/${created.body.id}`, { token });
    const text = await scrape(app.baseUrl);
    expect(sample(text, 'http_request_duration_seconds_count', { method: 'GET', route: '/tasks/:id', status_code: '200' })).toBeGreaterThanOrEqual(3);
    expect(sample(text, 'http_request_duration_seconds_count', { route: '/tasks', status_code: '201' })).toBe(1);
    expect(sample(text, 'taskflow_commands_total', { type: 'CreateTask', outcome: 'accepted' })).toBe(1);
    expect(sample(text, 'taskflow_commands_total', { type: 'UpdateTask', outcome: 'conflict' })).toBe(1);
    expect(sample(text, 'taskflow_event_append_duration_seconds_count')).toBeGreaterThan(0);
    expect(sample(text, 'taskflow_cache_hits_total')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'taskflow_cache_misses_total')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'taskflow_projection_lag_events', { projection: 'tasks' })).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'taskflow_projection_lag_seconds', { projection: 'tasks' })).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'taskflow_queue_jobs', { state: 'failed' })).toBe(0);
    expect(sample(text, 'taskflow_lock_held', { lock: 'projection:tasks' })).toBe(1);
    expect(text).toContain('process_resident_memory_bytes');
  });

  it('links one request to its command, append, projection batch in one trace', async () => {
    exporter.reset();
    const { token } = await app.login('user@example.com', 'user123');
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const created = await app.call('POST', '/tasks', { token, body: { title: 'traced' }, headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    expect(created.status).toBe(201);
    const projected = await eventually(
      async () => exporter.getFinishedSpans().find((s) => s.name === 'projection tasks' && s.links.some((l) => l.context.traceId === traceId)),
      10_000,
      'a projection span linked to the request',
    );
    const inTrace = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const names = inTrace.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['POST /tasks', 'command CreateTask', 'eventstore.append']));
    expect(projected.links.find((l) => l.context.traceId === traceId)).toBeDefined();
    const [event] = await app.db.knex('events').where({ stream_id: `task-${created.body.id}` }).select('metadata');
    expect(event.metadata.traceparent).toContain(traceId);
  });
});

describe('metrics: projection lag', () => {
  it('rises while no projector runs and falls once one does', async () => {
    const db = await createTestDatabase();
    const config = loadConfig({ DATABASE_URL: db.url, JWT_SECRET: SECRET, LOG_LEVEL: 'error' });
    const logger = silentLogger();
    // An API-only instance: nothing projects until we start a runner below.
    const system = await compose(config, { url: db.url, embedded: false, jwtSecret: SECRET, close: async () => {} }, { logger, role: 'api', poolSize: 3 });
    try {
      const registered = await system.users.register({ email: 'lag@test.example', name: 'Lag', password: 'long enough' }, { now: new Date().toISOString(), correlationId: 't' });
      const userId = registered.state.kind === 'registered' ? registered.state.user.id : '';
      const actor = { kind: 'user' as const, userId, role: 'user' as const };
      for (let i = 0; i < 5; i++)
        await system.tasks.create({ title: `t${i}` }, { context: { now: new Date().toISOString(), actor }, correlationId: 't' });
      await db.knex('projection_checkpoints').insert({ name: 'tasks' }).onConflict('name').ignore();
      const lagOf = async () => sample(await system.metrics.registry.metrics(), 'taskflow_projection_lag_events', { projection: 'tasks' });
      await new Promise((r) => setTimeout(r, 600));
      expect(await lagOf()).toBeGreaterThanOrEqual(7);

      const runner = runProjection({ knex: db.knex, eventStore: system.eventStore, watermarks: createProjectionWatermarks(db.knex), logger }, tasksProjection);
      await eventually(async () => {
        await new Promise((r) => setTimeout(r, 600));
        return (await lagOf()) === 0;
      }, 10_000, 'lag back to 0');
      await runner.stop();
    } finally {
      await system.close();
      await db.drop();
    }
  });
});

describe('readiness', () => {
  it('flips to 503 when PostgreSQL stops, and says why', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'taskflow-ready-'));
    const pg = await startEmbeddedPostgres(dir);
    const config = loadConfig({ DATABASE_URL: pg.url, JWT_SECRET: SECRET, LOG_LEVEL: 'error' });
    const system = await compose(config, { url: pg.url, embedded: false, jwtSecret: SECRET, close: async () => {} }, { logger: silentLogger(), role: 'api', poolSize: 2 });
    const server = system.app.listen(0);
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      expect((await fetch(`${url}/health/ready`)).status).toBe(200);
      await pg.stop();
      const res = await fetch(`${url}/health/ready`);
      expect(res.status).toBe(503);
      const body = await res.json();
      expect(body.checks.postgres.status).toBe('down');
      expect(body.checks.postgres.error).toBeTruthy();
      expect((await fetch(`${url}/health/live`)).status).toBe(200);
    } finally {
      server.close();
      await system.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
