import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM, type CommandContext } from '../../src/domain/actor.js';
import { silentLogger } from '../../src/infra/logger.js';
import { CheckpointMovedError, commitBatch, readCheckpoint } from '../../src/projections/checkpoints.js';
import { WHEN_CHECKPOINT_MOVED, type Projection } from '../../src/projections/projection.js';
import { retryProjection } from '../../src/operations/repair.js';
import { createProjectionWatermarks, runProjection } from '../../src/projections/runtime.js';
import { tasksProjection } from '../../src/projections/tasks.js';
import { getTaskStats, listTasks } from '../../src/queries/tasks.js';
import { closeEventLog, type EventLog, openEventLog } from '../support/eventLog.js';
import { eventually } from '../support/process.js';

const admin: CommandContext = { now: new Date().toISOString(), actor: SYSTEM };
const options = (now = new Date().toISOString()) => ({ context: { ...admin, now }, correlationId: randomUUID() });
const listAll = { page: 1, limit: 100, sortBy: 'createdAt', sortOrder: 'ASC' } as const;

describe('projections', () => {
  // Filled in by beforeAll.
  let { db, pool, eventStore, tasks, owner } = {} as EventLog;
  const logger = silentLogger();

  beforeAll(async () => {
    ({ db, pool, eventStore, tasks, owner } = await openEventLog());
  });
  afterAll(() => closeEventLog({ db, pool, eventStore }));

  const createTask = async (title: string, extra: Record<string, unknown> = {}) =>
    (await tasks.create({ title, userId: owner, ...extra }, options())).state as { kind: 'active'; task: { id: string } };

  /** The newest position of the log, once no transaction in flight can still add an earlier one. */
  const head = async () => {
    for (;;) {
      const { events, blocked } = await eventStore.readAll({ after: { tx: 0n, pos: 0n }, limit: 1_000_000 });
      if (!blocked && events.length) return events.at(-1)!.position;
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  const catchUp = async (projection: Projection) => {
    const watermarks = createProjectionWatermarks(db.knex);
    const runner = runProjection({ knex: db.knex, eventStore, watermarks, logger }, projection);
    const reached = await watermarks.waitFor([projection.name], await head(), 10_000);
    await runner.stop();
    return { reached, runner };
  };

  it('builds tasks and per-owner stats from the log, then follows new events promptly', async () => {
    const a = await createTask('alpha', { priority: 'HIGH' });
    const b = await createTask('beta');
    await tasks.update(b.task.id, { status: 'COMPLETED' }, options());
    await tasks.update(a.task.id, { dueDate: '2020-01-01T00:00:00.000Z' }, options());
    await tasks.markOverdue(a.task.id, options());
    const c = await createTask('gamma');
    await tasks.delete(c.task.id, options());

    expect((await catchUp(tasksProjection)).reached).toBe(true);
    const page = await listTasks(db.knex, { ownerId: owner }, listAll);
    expect(page.data.map((t) => [t.title, t.status, t.isOverdue, t.version])).toEqual([
      ['alpha', 'PENDING', true, 3],
      ['beta', 'COMPLETED', false, 2],
    ]);
    expect(await getTaskStats(db.knex, { ownerId: owner })).toEqual({
      total: 2, pending: 1, inProgress: 0, completed: 1, highPriority: 1, overdue: 1,
    });

    // Following: a live runner sees a new event without waiting for a poll.
    const watermarks = createProjectionWatermarks(db.knex);
    const runner = runProjection({ knex: db.knex, eventStore, watermarks, logger }, tasksProjection);
    await new Promise((r) => setTimeout(r, 300));
    const started = performance.now();
    const result = await tasks.update(a.task.id, { title: 'alpha 2' }, options());
    expect(await watermarks.waitFor(['tasks'], result.position!, 5000)).toBe(true);
    const followMs = performance.now() - started;
    await runner.stop();
    expect(followMs).toBeLessThan(900); // woken by NOTIFY, well under the 1 s idle poll
  });

  it('rolls back the read model and the checkpoint together when a batch fails half-way', async () => {
    await createTask('crash-1');
    await createTask('crash-2');
    const before = await readCheckpoint(db.knex, 'tasks');
    const rowsBefore = await db.knex('tasks').count<{ count: string }[]>({ count: '*' });

    // A projection whose write fails in its last part, after the rows and counters (a NOT NULL
    // violation), until the test lets it through.
    let crashing = true;
    let crashes = 0;
    const crashingProjection: Projection = {
      ...tasksProjection,
      prepare: async (knex, events) => {
        const write = await tasksProjection.prepare(knex, events);
        if (!crashing) return write;
        crashes++;
        const failing = { sql: `INSERT INTO tasks (id) SELECT gen_random_uuid() WHERE ${WHEN_CHECKPOINT_MOVED}`, bindings: [] };
        return { ...write, statements: [...write.statements, failing] };
      },
    };
    const watermarks = createProjectionWatermarks(db.knex);
    const runner = runProjection({ knex: db.knex, eventStore, watermarks, logger }, crashingProjection);
    // Tried as a batch, then event by event: it stops on the first, having written nothing.
    await eventually(async () => runner.status().state === 'failed' && crashes > 0, 10_000, 'the runner stopped on the first event');
    expect(await readCheckpoint(db.knex, 'tasks')).toEqual(before);
    expect(await db.knex('tasks').count<{ count: string }[]>({ count: '*' })).toEqual(rowsBefore);

    // After an operator's retry every event is applied exactly once.
    crashing = false;
    await retryProjection(db.knex, 'tasks', 'test');
    expect(await watermarks.waitFor(['tasks'], await head(), 10_000)).toBe(true);
    await runner.stop();
    const titles = (await listTasks(db.knex, { ownerId: owner }, listAll)).data.map((t) => t.title);
    expect(titles.filter((t) => t.startsWith('crash'))).toEqual(['crash-1', 'crash-2']);
    const stats = await getTaskStats(db.knex, { ownerId: owner });
    expect(stats.total).toBe(4);
  });

  it('writes nothing of a batch whose checkpoint another process moved first', async () => {
    const position = await readCheckpoint(db.knex, 'tasks');
    const stale = { tx: position.tx, pos: position.pos + 1000n };
    const id = randomUUID();
    const write = {
      statements: [{ sql: `INSERT INTO tasks (id, user_id, title, status, priority, priority_rank, is_overdue, version, created_at, updated_at)
        SELECT ?::uuid, ?::uuid, 'ghost', 'PENDING', 'LOW', 1, false, 1, now(), now() WHERE ${WHEN_CHECKPOINT_MOVED}`, bindings: [id, owner] }],
      scopes: [],
    };
    await expect(commitBatch(db.knex, 'tasks', stale, { tx: position.tx, pos: position.pos + 2000n }, write)).rejects.toBeInstanceOf(CheckpointMovedError);
    expect(await db.knex('tasks').where({ id }).first()).toBeUndefined();
    expect(await readCheckpoint(db.knex, 'tasks')).toEqual(position);
  });

  it('refuses to move a checkpoint that another runner moved first', async () => {
    await createTask('contended');
    const watermarks = createProjectionWatermarks(db.knex);
    const deps = { knex: db.knex, eventStore, watermarks, logger };
    const runners = [runProjection(deps, tasksProjection), runProjection(deps, tasksProjection)];
    expect(await watermarks.waitFor(['tasks'], await head(), 10_000)).toBe(true);
    await Promise.all(runners.map((r) => r.stop()));
    // Whichever runner lost the race rolled back: stats still equal a recount of the rows.
    const recount = await db.knex('tasks').where({ user_id: owner }).count<{ count: string }[]>({ count: '*' });
    expect((await getTaskStats(db.knex, { ownerId: owner })).total).toBe(Number(recount[0]!.count));
  });
});
