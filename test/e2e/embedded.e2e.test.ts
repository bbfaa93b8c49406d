import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, runCli, startServerProcess, stopProcess } from '../support/process.js';

const startCli = (dataDir: string) => startServerProcess({ TASKFLOW_DATA_DIR: dataDir });
const stop = (child: Parameters<typeof stopProcess>[0]) => stopProcess(child);
const runToExit = async (env: Record<string, string>) => {
  const { code, stderr } = await runCli(['serve'], env);
  return { code, stderr };
};

describe('embedded default: npm start with nothing set', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'taskflow-embedded-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starts on embedded PostgreSQL, seeds the demo users once, and keeps data across a restart', async () => {
    const first = await startCli(dataDir);
    let taskId: string;
    try {
      expect(first.output()).toContain('user@example.com / user123');
      expect(first.output()).toContain('admin@example.com / admin123');
      const login = await json(`${first.url}/auth/login`, { method: 'POST', body: JSON.stringify({ email: 'user@example.com', password: 'user123' }) });
      expect(login.status).toBe(200);
      const created = await json(`${first.url}/tasks`, { method: 'POST', token: login.body.access_token, body: JSON.stringify({ title: 'survives restarts' }) });
      expect(created.status).toBe(201);
      taskId = created.body.id;
    } finally {
      expect(await stop(first.child)).toBe(0);
    }

    const second = await startCli(dataDir);
    try {
      const login = await json(`${second.url}/auth/login`, { method: 'POST', body: JSON.stringify({ email: 'user@example.com', password: 'user123' }) });
      expect(login.status).toBe(200);
      const task = await json(`${second.url}/tasks/${taskId!}`, { token: login.body.access_token });
      expect(task.status).toBe(200);
      expect(task.body.title).toBe('survives restarts');
      const admin = await json(`${second.url}/auth/login`, { method: 'POST', body: JSON.stringify({ email: 'admin@example.com', password: 'admin123' }) });
      const users = await json(`${second.url}/users`, { token: admin.body.access_token });
      expect(users.body.meta.total).toBe(2);
    } finally {
      expect(await stop(second.child)).toBe(0);
    }
  }, 120_000);

  it('refuses a second server on the same data folder with one clear line', async () => {
    const first = await startCli(dataDir);
    try {
      const second = await runToExit({ PORT: '0', TASKFLOW_DATA_DIR: dataDir });
      expect(second.code).toBe(1);
      expect(second.stderr.trim().split('\n')).toHaveLength(1);
      expect(second.stderr).toMatch(/Another TaskFlow \(pid \d+\) is using the database/);
    } finally {
      await stop(first.child);
    }
  }, 120_000);

  it.each([
    [{ PORT: 'abc' }, /PORT/],
    [{ PORT: '3000', DATABASE_URL: 'postgres://127.0.0.1:1/x' }, /JWT_SECRET/],
    [{ DATABASE_URL: 'not a url', JWT_SECRET: 'x'.repeat(40) }, /DATABASE_URL/],
    [{ RATE_LIMIT_PER_MINUTE: '-5' }, /RATE_LIMIT_PER_MINUTE/],
  ])('stops on a bad setting %o with one line naming it', async (env, name) => {
    const { code, stderr } = await runToExit({ TASKFLOW_DATA_DIR: dataDir, ...env });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(name);
  }, 30_000);

  it('says so in one line when the database is unreachable', async () => {
    const { code, stderr } = await runToExit({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', JWT_SECRET: 'x'.repeat(40), PORT: '0' });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/database/i);
  }, 30_000);
});
