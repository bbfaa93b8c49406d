import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually, json, startServerProcess, stopProcess, type ServerProcess } from '../support/process.js';
import { redisForTests } from '../support/redis.js';

const redis = await redisForTests();
const SKIP_REASON = 'skipped: no REDIS_URL and no redis-server on PATH';
if (!redis) console.log(`cluster proof ${SKIP_REASON}`);

/** Three real `taskflow serve` processes on one PostgreSQL and one Redis. */
describe.skipIf(!redis)(`cluster proof${redis ? '' : ` (${SKIP_REASON})`}`, () => {
  let db: TestDatabase;
  let nodes: (ServerProcess & { id: string })[] = [];
  let token: string;

  const alive = () => nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);
  const api = (node: { url: string }, path: string, init: RequestInit = {}) => json(`${node.url}${path}`, { ...init, token });
  const countEvents = async (type: string, taskId: string) =>
    Number((await db.knex('events').where({ type, stream_id: `task-${taskId}` }).count<{ count: string }[]>({ count: '*' }))[0]!.count);
  const holderOf = async (lock: string) => (await db.knex('lock_leases').where({ name: lock }).andWhereRaw('expires_at > now()').first())?.holder as string | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: redis!.url,
      JWT_SECRET: 'cluster-secret-that-is-long-enough-0123456789',
      OVERDUE_CHECK_CRON: '* * * * * *',
      LOCK_LEASE_MS: '3000',
    };
    nodes = await Promise.all(['node-a', 'node-b', 'node-c'].map(async (id) => ({ id, ...(await startServerProcess({ ...env, INSTANCE_ID: id })) })));
    const registered = await json(`${nodes[0]!.url}/auth/register`, {
      method: 'POST',
      body: JSON.stringify({ email: 'cluster@test.example', name: 'Cluster', password: 'long enough password' }),
    });
    expect(registered.status).toBe(201);
    token = registered.body.access_token;
  }, 120_000);

  afterAll(async () => {
    await Promise.all(nodes.map((n) => stopProcess(n.child)));
    await db?.drop();
    await redis?.stop();
  });

  it('reads through any instance what the same user just wrote through another, at once', async () => {
    const [a, b, c] = nodes;
    for (let round = 0; round < 20; round++) {
      const created = await api(a!, '/tasks', { method: 'POST', body: JSON.stringify({ title: `written on a ${round}` }) });
      expect(created.status).toBe(201);
      // No retry: the writer's next read on another instance waits for its write to be projected.
      for (const node of [b!, c!]) {
        const res = await api(node, `/tasks/${created.body.id}`);
        expect(res.status).toBe(200);
        expect(res.body.title).toBe(`written on a ${round}`);
      }
    }
  });

  it('never serves a stale cached task once its update is projected', async () => {
    const [a, b, c] = nodes;
    const created = await api(a!, '/tasks', { method: 'POST', body: JSON.stringify({ title: 'v1' }) });
    const id = created.body.id as string;
    // Warm every instance's path to the shared cache with v1.
    for (const node of [a!, b!, c!]) await eventually(async () => (await api(node, `/tasks/${id}`)).status === 200, 10_000, 'v1 visible');
    for (let round = 2; round <= 6; round++) {
      const patched = await api(a!, `/tasks/${id}`, { method: 'PATCH', body: JSON.stringify({ title: `v${round}` }) });
      expect(patched.status).toBe(200);
      // Once any instance shows the new version, no instance may show an older one again.
      await eventually(async () => (await api(b!, `/tasks/${id}`)).body?.title === `v${round}`, 10_000, `v${round} on b`);
      for (let i = 0; i < 5; i++)
        for (const node of [a!, b!, c!]) expect((await api(node, `/tasks/${id}`)).body.title).toBe(`v${round}`);
    }
  });

  it('marks a past-due task overdue exactly once, with one notification, across three instances', async () => {
    const [a, b] = nodes;
    const created = await api(a!, '/tasks', { method: 'POST', body: JSON.stringify({ title: 'late', dueDate: '2020-01-01T00:00:00Z' }) });
    const id = created.body.id as string;
    await eventually(async () => (await api(b!, `/tasks/${id}`)).body?.isOverdue === true, 15_000, 'overdue on b');
    await eventually(async () => (await api(a!, '/notifications')).body?.data?.some((n: { taskId: string }) => n.taskId === id), 15_000, 'notification');
    // Let several more scheduler ticks run on whichever instance leads.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await countEvents('TaskMarkedOverdue', id)).toBe(1);
    const notifications = (await api(a!, '/notifications?limit=100')).body.data.filter((n: { taskId: string }) => n.taskId === id);
    expect(notifications).toHaveLength(1);
    const [event] = await db.knex('events').where({ type: 'TaskMarkedOverdue', stream_id: `task-${id}` }).select('metadata');
    expect(event.metadata.fencing.lock).toBe('overdue-check');
  });

  it('hands the overdue check and the projections to another instance when the holder is killed', async () => {
    const leader = await eventually(() => holderOf('overdue-check'), 10_000, 'an overdue-check holder');
    const projector = await holderOf('projection:tasks');
    const victim = nodes.find((n) => n.id === leader)!;
    expect(await stopProcess(victim.child, 'SIGKILL')).toBeNull();

    const survivors = alive();
    expect(survivors).toHaveLength(2);
    const newLeader = await eventually(async () => {
      const holder = await holderOf('overdue-check');
      return holder && holder !== leader ? holder : null;
    }, 10_000, 'a new overdue-check holder');
    expect(survivors.map((n) => n.id)).toContain(newLeader);
    if (projector === leader)
      await eventually(async () => {
        const holder = await holderOf('projection:tasks');
        return holder && holder !== leader;
      }, 10_000, 'a new tasks projector');

    // The survivors keep projecting and checking: a new late task is marked once.
    const [s1, s2] = survivors;
    const created = await api(s1!, '/tasks', { method: 'POST', body: JSON.stringify({ title: 'late after failover', dueDate: '2020-01-01T00:00:00Z' }) });
    await eventually(async () => (await api(s2!, `/tasks/${created.body.id}`)).body?.isOverdue === true, 20_000, 'overdue after failover');
    await new Promise((r) => setTimeout(r, 2000));
    expect(await countEvents('TaskMarkedOverdue', created.body.id)).toBe(1);
  }, 60_000);
});
