import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRunningEmbedded } from '../../src/infra/db/embedded.js';
import { json, runCli, startServerProcess, stopProcess, type ServerProcess } from '../support/process.js';

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
