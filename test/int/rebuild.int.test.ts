import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM, type Actor } from '../../src/domain/actor.js';
import type { LogPosition } from '../../src/domain/event.js';
import { silentLogger } from '../../src/infra/logger.js';
import { formatTask } from '../../src/cli/format.js';
import { replayTask, taskAuditTrail } from '../../src/operations/audit.js';
import { checkCompleteness } from '../../src/operations/completeness.js';
import { rebuildProjection } from '../../src/operations/rebuild.js';
import { verifyReadModels } from '../../src/operations/verify.js';
import { findCheckpoint } from '../../src/projections/checkpoints.js';
import { runProjection, type ProjectionRunner } from '../../src/projections/runtime.js';
import { tasksProjectionFor } from '../../src/projections/tasks.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { cleanEnv, eventually, ROOT, runCli } from '../support/process.js';

// The operator tooling on a real PostgreSQL, with the whole service running: its projection
// runners keep serving while rebuilds write shadow tables and swap them in.

const JWT_SECRET = 'test-secret-that-is-long-enough-0123456789';

let app: TestApp;
let env: Record<string, string>;
let owners: string[];
/** A second, independent tasks projection that never gets rebuilt: the reference to compare with. */
let reference: ProjectionRunner;

const options = (actor: Actor = SYSTEM, now = new Date().toISOString()) => ({ context: { now, actor }, correlationId: randomUUID() });

/** A task's life through the real commands: about five events each, some overdue, some deleted. */
const taskLife = async (i: number) => {
  const { tasks } = app.system;
  const created = await tasks.create({ title: `task ${i}`, userId: owners[i % owners.length]!, priority: i % 3 ? 'MEDIUM' : 'HIGH' }, options());
  const id = (created.state as { task: { id: string } }).task.id;
  await tasks.update(id, { title: `task ${i} renamed`, status: 'IN_PROGRESS', priority: 'LOW' }, options());
  if (i % 4 === 0) {
    await tasks.update(id, { dueDate: '2020-01-01T00:00:00.000Z' }, options());
    await tasks.markOverdue(id, options());
  }
  if (i % 5 === 0) await tasks.update(id, { userId: owners[(i + 1) % owners.length]! }, options());
  if (i % 7 === 0) await tasks.delete(id, options());
  else if (i % 3 === 0) await tasks.update(id, { status: 'COMPLETED' }, options());
  return id;
};

const generate = async (from: number, count: number, parallel = 8) => {
  const ids: string[] = [];
  for (let i = from; i < from + count; i += parallel)
    ids.push(...(await Promise.all(Array.from({ length: Math.min(parallel, from + count - i) }, (_, k) => taskLife(i + k)))));
  return ids;
};

const head = async (): Promise<LogPosition> => {
  const row = await app.db.knex('events').select(app.db.knex.raw('transaction_id::text AS tx'), 'global_position').orderByRaw('transaction_id DESC, global_position DESC').first();
  return { tx: BigInt(row.tx), pos: BigInt(row.global_position) };
};

/** Waits until the live projections and the reference have applied everything in the log. */
const settle = async () => {
  const at = await head();
  expect(await app.system.watermarks.waitFor(['tasks', 'users', 'tasks-reference'], at, 30_000)).toBe(true);
};

const rows = (table: string, key = 'id') => app.db.knex(table).select('*').orderBy(key);
const expectTasksMatchReference = async () => {
  await settle();
  const [tasks, reference] = await Promise.all([rows('tasks'), rows('tasks_reference')]);
  expect(tasks.length).toBeGreaterThan(100);
  expect(tasks).toEqual(reference);
  expect(await rows('task_stats', 'user_id')).toEqual(await rows('task_stats_reference', 'user_id'));
};

const eventCount = async () => Number((await app.db.knex('events').count<{ count: string }[]>({ count: '*' }))[0]!.count);

describe('operator tooling: rebuild, replay, audit', () => {
  beforeAll(async () => {
    app = await startTestApp();
    env = { DATABASE_URL: app.db.url, JWT_SECRET };
    owners = [];
    for (const name of ['Ann', 'Bob', 'Cy']) {
      const result = await app.system.users.register({ email: `${name.toLowerCase()}-${randomUUID()}@test.example`, name, password: 'long enough' }, { now: new Date().toISOString(), correlationId: 'test' });
      owners.push((result.state as { user: { id: string } }).user.id);
    }
    await app.db.knex.raw('CREATE TABLE tasks_reference (LIKE tasks INCLUDING ALL); CREATE TABLE task_stats_reference (LIKE task_stats INCLUDING ALL)');
    const projection = { ...tasksProjectionFor({ tasks: 'tasks_reference', stats: 'task_stats_reference' }), name: 'tasks-reference' };
    reference = runProjection({ knex: app.db.knex, eventStore: app.system.eventStore, watermarks: app.system.watermarks, logger: silentLogger() }, projection);
    await generate(0, 700);
  }, 120_000);
  afterAll(async () => {
    await reference?.stop();
    await app?.close();
  });

  it('rebuilds tasks and users while the live runner keeps serving and writes keep arriving: the result matches row for row', async () => {
    expect(await eventCount()).toBeGreaterThan(3000);
    const usersBefore = await rows('users');

    // Writers keep going during the rebuild; a reader keeps reading the live table.
    let writing = true;
    const written: string[] = [];
    const writer = (async () => {
      for (let i = 10_000; writing; i += 4) written.push(...(await generate(i, 4, 4)));
    })();
    let reads = 0;
    const reader = (async () => {
      while (writing) {
        await app.db.knex('tasks').count({ count: '*' });
        reads++;
      }
    })();

    const phases = new Set<string>();
    const result = await rebuildProjection(app.system, 'tasks', { batchSize: 250, onProgress: (p) => phases.add(p.phase) });
    await new Promise((r) => setTimeout(r, 300));
    writing = false;
    await Promise.all([writer, reader]);

    expect(result.resumedAt).toBe(0);
    expect(result.events).toBeGreaterThan(3000);
    expect([...phases]).toEqual(['building', 'indexing', 'swapping']);
    expect(written.length).toBeGreaterThan(0);
    expect(reads).toBeGreaterThan(0);
    await expectTasksMatchReference();
    // Every task written during the rebuild is there (or deleted, as its own events say).
    const present = new Set((await app.db.knex('tasks').whereIn('id', written).select('id')).map((r) => r.id));
    const live = new Set((await app.db.knex('tasks_reference').whereIn('id', written).select('id')).map((r) => r.id));
    expect(present).toEqual(live);
    expect(present.size).toBeGreaterThan(0);

    // The swapped-in tables carry the original index and constraint names, and nothing is left behind.
    const { rows: indexes } = await app.db.knex.raw(`SELECT indexname FROM pg_indexes WHERE tablename = 'tasks' ORDER BY 1`);
    expect(indexes.map((r: { indexname: string }) => r.indexname)).toContain('tasks_pkey');
    expect(indexes.map((r: { indexname: string }) => r.indexname).filter((n: string) => n.includes('__'))).toEqual([]);
    const { rows: leftovers } = await app.db.knex.raw(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE '%\\_\\_%'`);
    expect(leftovers).toEqual([]);
    expect(await findCheckpoint(app.db.knex, 'tasks@rebuild')).toBeNull();
    // The rebuild's counts of consumed events came with its tables: they match the log.
    const [completeness] = await checkCompleteness(app.system.completeness, { names: ['tasks'], full: true });
    expect(completeness).toMatchObject({ missing: 0, doubled: 0 });
    expect(await app.db.knex('projection_event_counts').where({ projection: 'tasks@rebuild' })).toEqual([]);

    // The live runner follows on the new tables.
    const after = await generate(20_000, 3);
    await expectTasksMatchReference();
    expect((await app.db.knex('tasks').whereIn('id', after)).length).toBeGreaterThan(0);

    const users = await rebuildProjection(app.system, 'users', {});
    expect(users.events).toBeGreaterThan(3000);
    expect(await rows('users')).toEqual(usersBefore);
  }, 90_000);

  it('a rebuild killed half-way resumes from its own checkpoint; a second rebuild at the same time is refused', async () => {
    const total = await eventCount();
    // A tiny batch, so the first run is still going when the second starts and when it is killed.
    const first = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'projections', 'rebuild', 'tasks', '--batch', '2', '--json'], {
      cwd: ROOT,
      // The same environment as runCli gives the second run, so both take the same kind of lock.
      env: cleanEnv(env),
      stdio: 'ignore',
    });
    const exited = new Promise<void>((resolve) => first.on('exit', () => resolve()));
    let moved: LogPosition | null = null;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
      moved = await findCheckpoint(app.db.knex, 'tasks@rebuild');
      if (moved && moved.pos > 0n) break;
    }
    expect(moved?.pos).toBeGreaterThan(0n);

    const second = await runCli(['projections', 'rebuild', 'tasks'], env);
    expect(second.code).toBe(1);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(second.stderr).toMatch(/A rebuild of tasks is already running/);

    first.kill('SIGKILL');
    await exited;
    const status = await runCli(['projections', 'status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    const tasksStatus = JSON.parse(status.stdout).data.find((s: { name: string }) => s.name === 'tasks');
    expect(tasksStatus.state).toBe('rebuilding');
    expect(tasksStatus.rebuild.lagEvents).toBeLessThan(total);

    const resumed = await runCli(['projections', 'rebuild', 'tasks', '--json'], env);
    expect(resumed.code, resumed.stderr).toBe(0);
    const lines = resumed.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const done = lines.at(-1);
    expect(done).toMatchObject({ event: 'done', projection: 'tasks' });
    expect(done.resumedAt).toBeGreaterThan(0);
    expect(lines[0]).toMatchObject({ event: 'progress', phase: 'building', resumedAt: done.resumedAt });
    await expectTasksMatchReference();
    // The killed run's counts were kept with its checkpoint, so the resumed one's add up.
    expect((await checkCompleteness(app.system.completeness, { names: ['tasks'], full: true }))[0]).toMatchObject({ missing: 0, doubled: 0 });
  }, 90_000);

  it('audit verify exits 0 on a healthy database and lists each corrupted row with a non-zero exit', async () => {
    await settle();
    const healthy = await runCli(['audit', 'verify'], env);
    expect(healthy.code, healthy.stdout + healthy.stderr).toBe(0);
    expect(healthy.stdout).toMatch(/tasks: .*no differences/);
    expect(healthy.stdout).toMatch(/users: .*no differences/);

    const [renamed, removed] = await app.db.knex('tasks').select('id', 'title').orderBy('id').limit(2);
    await app.db.knex('tasks').where({ id: renamed.id }).update({ title: 'tampered' });
    await app.db.knex('tasks').where({ id: removed.id }).delete();
    await app.db.knex('task_stats').where({ user_id: owners[0] }).increment('completed', 2);
    const extra = randomUUID();
    await app.db.knex('users').insert({ id: extra, email: 'ghost@test.example', name: 'Ghost', role: 'admin', version: 1, created_at: new Date(), updated_at: new Date() });

    const corrupted = await runCli(['audit', 'verify'], env);
    expect(corrupted.code).toBe(1);
    expect(corrupted.stdout).toContain(`tasks ${renamed.id}: title expected ${JSON.stringify(renamed.title)}, actual "tampered"`);
    expect(corrupted.stdout).toContain(`tasks ${removed.id}: missing row`);
    expect(corrupted.stdout).toMatch(new RegExp(`task_stats ${owners[0]}: completed expected \\d+, actual \\d+`));
    expect(corrupted.stdout).toContain(`users ${extra}: extra row`);

    const [users] = await verifyReadModels(app.system, { projection: 'users' });
    expect(users).toMatchObject({ projection: 'users', differenceCount: 1, differences: [{ table: 'users', id: extra, kind: 'extra' }] });

    // A rebuild repairs the read model.
    await app.db.knex('users').where({ id: extra }).delete();
    await rebuildProjection(app.system, 'tasks', {});
    expect((await verifyReadModels(app.system, { projection: 'tasks' }))[0]!.differenceCount).toBe(0);
  }, 90_000);

  it('replay folds a task at a version and at a time; audit history shows who changed each field, before → after', async () => {
    const owner = owners[1]!;
    const actor: Actor = { kind: 'user', userId: owner, role: 'user' };
    const { tasks } = app.system;
    const created = await tasks.create({ title: 'Draft the plan', userId: owner }, options(actor, '2024-03-01T09:00:00.000Z'));
    const id = (created.state as { task: { id: string } }).task.id;
    await tasks.update(id, { title: 'Final plan', priority: 'HIGH' }, options(actor, '2024-03-02T09:00:00.000Z'));
    await tasks.update(id, { status: 'COMPLETED' }, options(SYSTEM, '2024-03-03T09:00:00.000Z'));

    const [v1, history] = await Promise.all([runCli(['replay', id, '--version', '1', '--json'], env), runCli(['audit', 'history', id], env)]);
    expect(v1.code, v1.stderr).toBe(0);
    expect(JSON.parse(v1.stdout)).toMatchObject({ id, title: 'Draft the plan', priority: 'MEDIUM', status: 'PENDING', version: 1 });

    const atTime = formatTask(await replayTask(app.system.eventStore, id, { asOf: '2024-03-02T12:00:00.000Z' }));
    expect(atTime).toMatch(/^title: +Final plan$/m);
    expect(atTime).toMatch(/^priority: +HIGH$/m);
    expect(atTime).toMatch(/^status: +PENDING$/m);
    expect(atTime).toMatch(/^version: +3$/m);
    await expect(replayTask(app.system.eventStore, id, { asOf: '2024-02-01T00:00:00.000Z' })).rejects.toThrow(/did not exist/);
    await expect(replayTask(app.system.eventStore, id, { version: 9 })).rejects.toThrow(/no version 9/);

    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout).toContain('title: "Draft the plan" → "Final plan"');
    expect(history.stdout).toContain('priority: "MEDIUM" → "HIGH"');
    expect(history.stdout).toContain('status: "PENDING" → "COMPLETED"');
    expect(history.stdout).toMatch(/ann-|bob-|cy-/);
    expect(history.stdout).toContain('system');

    const trail = await taskAuditTrail(app.system, id);
    expect(trail.map((e) => [e.version, e.type])).toEqual([
      [1, 'TaskCreated'],
      [2, 'TaskDetailsChanged'],
      [3, 'TaskPriorityChanged'],
      [4, 'TaskStatusChanged'],
    ]);
    expect(trail[1]).toMatchObject({ occurredAt: '2024-03-02T09:00:00.000Z', actor: { id: owner }, changes: [{ field: 'title', before: 'Draft the plan', after: 'Final plan' }] });
    expect(trail[3]!.actor).toEqual({ id: 'system', email: null });
  }, 60_000);

  it('makes the in-process cache of every instance forget what it cached from the replaced tables, from the swap itself', async () => {
    const other = await startTestApp({}, { db: app.db, role: 'api', instanceId: 'rebuild-cache-peer' });
    try {
      const key = `rebuild-probe:${randomUUID()}`;
      const scopes = [`probe:${randomUUID()}`];
      const stamp = await eventually(async () => (await other.system.cache.read(key, scopes)).stamp, 5000, 'the peer cache to listen');
      await other.system.cache.write(key, { from: 'old tables' }, stamp);
      expect((await other.system.cache.read(key, scopes)).hit).toBe(true);
      await rebuildProjection(app.system, 'tasks');
      await eventually(async () => !(await other.system.cache.read(key, scopes)).hit, 5000, 'the peer to forget its entries');
    } finally {
      await other.close();
    }
  }, 60_000);
});
