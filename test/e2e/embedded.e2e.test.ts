import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = ['--import', 'tsx', 'src/cli/index.ts'];

/** The environment of a new user: nothing of ours set. */
const cleanEnv = (extra: Record<string, string>) => {
  const env = { ...process.env };
  for (const key of ['DATABASE_URL', 'TEST_DATABASE_URL', 'JWT_SECRET', 'EVENTSTORE_URL', 'REDIS_URL', 'PORT']) delete env[key];
  return { ...env, ...extra };
};

type Started = { child: ChildProcess; url: string; output: () => string };

const startCli = (dataDir: string, args = ['serve'], env: Record<string, string> = {}) =>
  new Promise<Started>((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI, ...args], {
      cwd: ROOT,
      env: cleanEnv({ PORT: '0', TASKFLOW_DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /TaskFlow is running at (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1]!, output: () => output });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });

const stop = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.removeAllListeners('exit');
    child.on('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });

const runToExit = (env: Record<string, string>) =>
  new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [...CLI, 'serve'], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });

const json = async (url: string, init: RequestInit & { token?: string } = {}) => {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  const res = await fetch(url, { ...init, headers });
  return { status: res.status, body: (await res.json().catch(() => null)) as any };
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
