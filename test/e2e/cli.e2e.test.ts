import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRunningEmbedded } from '../../src/infra/db/embedded.js';
import { createKnex } from '../../src/infra/db/knex.js';
import { eventually, json, runCli, startServerProcess, stopProcess, type ServerProcess } from '../support/process.js';

// The operator CLI where operators run it: beside a running embedded `npm start` (it finds that
// database by itself while the server keeps serving), in a folder whose server is stopped, and
// with bad input. Each failure is one line and a non-zero exit, never a stack trace.

const oneLine = (result: { code: number | null; stderr: string }) => {
  expect(result.code).not.toBe(0);
  expect(result.stderr.trim().split('\n'), result.stderr).toHaveLength(1);
  expect(result.stderr).not.toMatch(/\n\s+at |\.ts:\d+/);
};

describe('taskflow CLI against the embedded database', () => {
  let dataDir: string;
  let server: ServerProcess | null = null;
  let env: Record<string, string>;
  let taskId: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'taskflow-cli-'));
    env = { TASKFLOW_DATA_DIR: dataDir };
    server = await startServerProcess(env);
    const login = await json(`${server.url}/auth/login`, { method: 'POST', body: JSON.stringify({ email: 'user@example.com', password: 'user123' }) });
    const created = await json(`${server.url}/tasks`, { method: 'POST', token: login.body.access_token, body: JSON.stringify({ title: 'Ship it', priority: 'HIGH' }) });
    taskId = created.body.id;
    await json(`${server.url}/tasks/${taskId}`, { method: 'PATCH', token: login.body.access_token, body: JSON.stringify({ status: 'IN_PROGRESS' }) });
  }, 90_000);
  afterAll(async () => {
    if (server) await stopProcess(server.child);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('beside a running server: status, history, replay and a rebuild, while the server keeps serving', async () => {
    const [status, history, replay] = await Promise.all([
      runCli(['projections', 'status', '--json'], env),
      runCli(['audit', 'history', taskId], env),
      runCli(['replay', taskId, '--version', '1'], env),
    ]);
    expect(status.code, status.stderr).toBe(0);
    const tasks = JSON.parse(status.stdout).data.find((s: { name: string }) => s.name === 'tasks');
    expect(tasks).toMatchObject({ state: 'live', lagEvents: 0 });
    expect(tasks.owner).toMatch(/:\d+$/);
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout).toContain('status: "PENDING" → "IN_PROGRESS"');
    expect(history.stdout).toContain('user@example.com');
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toMatch(/^status: +PENDING$/m);

    const rebuild = await runCli(['projections', 'rebuild', '--all'], env);
    expect(rebuild.code, rebuild.stderr).toBe(0);
    expect(rebuild.stdout).toMatch(/tasks: rebuilt from \d+ events/);
    expect(rebuild.stdout).toMatch(/users: rebuilt from \d+ events/);

    const login = await json(`${server!.url}/auth/login`, { method: 'POST', body: JSON.stringify({ email: 'user@example.com', password: 'user123' }) });
    expect(login.status).toBe(200);
    const task = await json(`${server!.url}/tasks/${taskId}`, { token: login.body.access_token });
    expect(task.body).toMatchObject({ title: 'Ship it', status: 'IN_PROGRESS' });
    const verify = await runCli(['audit', 'verify'], env);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 90_000);

  it('a projection that stops on an event: status, /health and /metrics name it; retry and park from the CLI beside the server; verify reports the parked event', async () => {
    const knex = createKnex(findRunningEmbedded(dataDir)!.url, { max: 2 });
    const failureOf = () => knex('projection_failures').where({ projection: 'tasks' }).first();
    try {
      // An event the tasks table cannot store (no title), written straight into the log beside the server.
      const eventId = randomUUID();
      const metadata = { eventId, occurredAt: new Date().toISOString(), actor: 'system', correlationId: randomUUID(), causationId: null, schemaVersion: 1 };
      const badTask = randomUUID();
      const data = { taskId: badTask, title: null, description: null, status: 'PENDING', priority: 'LOW', dueDate: null, userId: randomUUID() };
      await knex('events').insert({ stream_id: `task-${badTask}`, stream_version: 1, event_id: eventId, type: 'TaskCreated', data: JSON.stringify(data), metadata: JSON.stringify(metadata), occurred_at: new Date() });
      const failed = await eventually(failureOf, 30_000, 'the server\'s tasks runner to stop on the event');

      const [status, table, health, metrics] = await Promise.all([
        runCli(['projections', 'status', '--json'], env),
        runCli(['projections', 'status'], env),
        json(`${server!.url}/health`),
        fetch(`${server!.url}/metrics`).then((r) => r.text()),
      ]);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).data.find((p: { name: string }) => p.name === 'tasks')).toMatchObject({
        state: 'failed',
        failure: { eventId, streamId: `task-${badTask}`, streamVersion: 1, type: 'TaskCreated', error: expect.stringMatching(/null value in column "title"/) },
      });
      expect(table.stdout).toMatch(/^tasks +failed /m);
      expect(table.stdout).toContain(`tasks: FAILED on event ${eventId} (task-${badTask} v1, TaskCreated`);
      expect(table.stdout).toContain(`taskflow projections park tasks --event ${eventId} --reason`);
      expect(health.body).toMatchObject({ status: 'degraded', projections: { tasks: { state: 'failed', failure: { eventId } } } });
      expect(health.body.problems).toEqual([expect.stringContaining(`tasks: failed on event ${eventId}`)]);
      expect(metrics).toMatch(/^taskflow_projection_failed\{projection="tasks"\} 1$/m);
      expect(metrics).toMatch(/^taskflow_projection_failed\{projection="users"\} 0$/m);

      const [wrongEvent, notFailed, noReason, unknown] = await Promise.all([
        runCli(['projections', 'park', 'tasks', '--event', randomUUID(), '--reason', 'guess'], env),
        runCli(['projections', 'retry', 'users'], env),
        runCli(['projections', 'park', 'tasks', '--event', eventId], env),
        runCli(['projections', 'retry', 'todos'], env),
      ]);
      oneLine(wrongEvent);
      expect(wrongEvent.stderr).toMatch(/is not the event tasks stopped on/);
      oneLine(notFailed);
      expect(notFailed.stderr).toMatch(/Projection users has not failed/);
      oneLine(noReason);
      expect(noReason.stderr).toMatch(/--reason/);
      oneLine(unknown);
      expect(unknown.stderr).toMatch(/Unknown projection "todos"/);

      // Retry: the server's runner tries again (and stops on the same event again).
      const retry = await runCli(['projections', 'retry', 'tasks'], env);
      expect(retry.code, retry.stderr).toBe(0);
      await eventually(async () => {
        const again = await failureOf();
        return again && new Date(again.failed_at) > new Date(failed.failed_at);
      }, 10_000, 'the second failure');

      // Park: the runner skips it and goes on; a new task shows up.
      const park = await runCli(['projections', 'park', 'tasks', '--event', eventId, '--reason', 'imported without a title'], { ...env, TASKFLOW_OPERATOR: 'alice' });
      expect(park.code, park.stderr).toBe(0);
      expect(park.stdout).toContain(`event ${eventId} (task-${badTask} v1) parked by alice`);
      const login = await json(`${server!.url}/auth/login`, { method: 'POST', body: JSON.stringify({ email: 'user@example.com', password: 'user123' }) });
      const created = await json(`${server!.url}/tasks`, { method: 'POST', token: login.body.access_token, body: JSON.stringify({ title: 'After the park' }) });
      expect((await json(`${server!.url}/tasks/${created.body.id}`, { token: login.body.access_token })).status).toBe(200);

      const after = JSON.parse((await runCli(['projections', 'status', '--json'], env)).stdout).data.find((p: { name: string }) => p.name === 'tasks');
      expect(after).toMatchObject({ state: 'live', failure: null, parked: [{ eventId, operator: 'alice', reason: 'imported without a title' }], completeness: { missing: 0, doubled: 0 } });

      // verify leaves it out of the fold and says so; a rebuild skips it too.
      const verify = await runCli(['audit', 'verify'], env);
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
      expect(verify.stdout).toMatch(/tasks: .*no differences, 1 parked event left out/);
      expect(verify.stdout).toContain(`parked event ${eventId} (task-${badTask} v1, TaskCreated`);
      const rebuild = await runCli(['projections', 'rebuild', 'tasks'], env);
      expect(rebuild.code, rebuild.stderr).toBe(0);
      expect((await runCli(['audit', 'verify', '--projection', 'tasks'], env)).code).toBe(0);
    } finally {
      await knex.destroy();
    }
  }, 120_000);

  it('in a folder whose server is stopped: starts the database for the command and stops it after', async () => {
    expect(await stopProcess(server!.child)).toBe(0);
    server = null;
    const status = await runCli(['projections', 'status'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^tasks +stopped +\d+\/\d+ +0 /m);
    expect(findRunningEmbedded(dataDir)).toBeNull();
    const replay = await runCli(['replay', taskId, '--json'], env);
    expect(JSON.parse(replay.stdout)).toMatchObject({ id: taskId, status: 'IN_PROGRESS', version: 2 });
  }, 60_000);

  it('says what is wrong in one line: bad arguments, unknown task or projection, no database, unreachable DATABASE_URL', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    const empty = await mkdtemp(path.join(os.tmpdir(), 'taskflow-cli-empty-'));
    const unreachable = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', JWT_SECRET: 'x'.repeat(40) };
    const results = await Promise.all([
      runCli(['replay', 'not-a-uuid'], env),
      runCli(['replay', unknown, '--version', '0'], env),
      runCli(['replay', unknown, '--version', '2', '--at', '2030-01-01T00:00:00Z'], env),
      runCli(['replay', unknown, '--at', 'yesterday'], env),
      runCli(['projections', 'rebuild'], env),
      runCli(['projections', 'rebuild', 'tasks', '--batch', 'many'], env),
      runCli(['projections', 'frobnicate'], env),
      runCli(['audit', 'history'], env),
    ]);
    results.forEach(oneLine);
    const [unknownTask, unknownProjection, subscription, noDatabase, noServer] = await Promise.all([
      runCli(['audit', 'history', unknown], env),
      runCli(['projections', 'rebuild', 'todos'], env),
      runCli(['projections', 'rebuild', 'notification-jobs'], env),
      runCli(['projections', 'status'], { TASKFLOW_DATA_DIR: empty }),
      runCli(['projections', 'status'], unreachable),
    ]);
    oneLine(unknownTask);
    expect(unknownTask.stderr).toContain(`Task ${unknown} not found`);
    oneLine(unknownProjection);
    expect(unknownProjection.stderr).toMatch(/Unknown projection "todos": expected one of tasks, users/);
    oneLine(subscription);
    expect(subscription.stderr).toMatch(/not a read model/);
    oneLine(noDatabase);
    expect(noDatabase.stderr).toMatch(/No TaskFlow database in .*npm start.*DATABASE_URL/);
    oneLine(noServer);
    expect(noServer.stderr).toMatch(/Cannot reach the database/);
    await rm(empty, { recursive: true, force: true });
  }, 60_000);
});
