import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as countsMigration from '../../src/infra/db/migrations/010_projection_failures_and_counts.js';
import { silentLogger } from '../../src/infra/logger.js';
import { checkCompleteness, countLogInPostgres, countLogThrough } from '../../src/operations/completeness.js';
import { projectionStatus, statusProblems } from '../../src/operations/status.js';
import { commitBatch, readCheckpoint } from '../../src/projections/checkpoints.js';
import { createProjectionWatermarks, runProjection } from '../../src/projections/runtime.js';
import { tasksProjection } from '../../src/projections/tasks.js';
import { USERS_TABLE, usersProjectionFor } from '../../src/projections/users.js';
import { closeEventLog, type EventLog, logHead, openEventLog, systemOptions } from '../support/eventLog.js';

// Each projection counts, per bucket of the log, the events it consumed, in the statement that
// moves its checkpoint; the reconciler compares that with the log and raises "caught up but
// missing N events" when they disagree.

describe('completeness: counts of consumed events against the log', () => {
  // Filled in by beforeAll.
  let { db, pool, eventStore, tasks, owner } = {} as EventLog;
  const context = () => systemOptions();
  const check = (options: { names?: string[]; full?: boolean } = {}) => checkCompleteness({ knex: db.knex, countLog: countLogInPostgres }, { names: ['tasks', 'users'], ...options });
  const findingOf = async (name: string, options: { full?: boolean } = {}) => (await check({ names: [name], ...options }))[0]!;
  const head = () => logHead({ db });
  const eventCount = async () => Number((await db.knex('events').count<{ count: string }[]>({ count: '*' }))[0]!.count);

  /** Runs both read models to the head of the log, in small batches so most of the users' batches move lazily. */
  const catchUp = async () => {
    const watermarks = createProjectionWatermarks(db.knex);
    const deps = { knex: db.knex, eventStore, watermarks, logger: silentLogger(), batchSize: 3 };
    const runners = [runProjection(deps, tasksProjection), runProjection(deps, usersProjectionFor({ users: USERS_TABLE }))];
    expect(await watermarks.waitFor(['tasks', 'users'], await head(), 20_000)).toBe(true);
    await Promise.all(runners.map((r) => r.stop()));
  };

  beforeAll(async () => {
    ({ db, pool, eventStore, tasks, owner } = await openEventLog());
    for (let i = 0; i < 20; i++) {
      const created = await tasks.create({ title: `task ${i}`, userId: owner }, context());
      if (i % 2) await tasks.update((created.state as { task: { id: string } }).task.id, { status: 'COMPLETED' }, context());
    }
    await catchUp();
  }, 60_000);
  afterAll(() => closeEventLog({ db, pool, eventStore }));

  it('match the log after the projections ran, lazily moved batches included, by either log counter', async () => {
    const total = await eventCount();
    for (const finding of await check({ full: true })) expect(finding).toMatchObject({ missing: 0, doubled: 0, buckets: [] });
    const [consumed] = await db.knex('projection_event_counts').where({ projection: 'users' }).sum({ events: 'events' });
    expect(Number(consumed!.events)).toBe(total);
    // The counter that reads through the event store port (EventStoreDB) agrees.
    const [throughPort] = await checkCompleteness({ knex: db.knex, countLog: countLogThrough(eventStore, 7) }, { names: ['users'], full: true });
    expect(throughPort).toMatchObject({ missing: 0, doubled: 0 });
    const status = await projectionStatus({ knex: db.knex, eventStore });
    expect(status.find((s) => s.name === 'tasks')!.completeness).toMatchObject({ missing: 0, doubled: 0, problem: null });
    expect(statusProblems(status)).toEqual([]);
  });

  it('raise "caught up but missing N events" when a count row is lost, and clear once it is back', async () => {
    const [row] = await db.knex('projection_event_counts').where({ projection: 'users', bucket: 0 }).select('events');
    await db.knex('projection_event_counts').where({ projection: 'users', bucket: 0 }).delete();

    // The periodic check (not a full one) covers the bucket at the head.
    const finding = await findingOf('users');
    expect(finding).toMatchObject({ missing: Number(row.events), doubled: 0, buckets: [{ bucket: 0, logged: Number(row.events), consumed: 0 }] });
    const status = (await projectionStatus({ knex: db.knex, eventStore })).find((s) => s.name === 'users')!;
    expect(status.completeness!.problem).toBe(`caught up but missing ${row.events} events of the log below its checkpoint`);
    expect(statusProblems([status])).toEqual([`users: caught up but missing ${row.events} events of the log below its checkpoint`]);

    await db.knex('projection_event_counts').insert({ projection: 'users', bucket: 0, events: row.events });
    expect(await findingOf('users')).toMatchObject({ missing: 0, doubled: 0 });
  });

  it('raise "missing 1" when a checkpoint moved past an event without counting it, and "applied twice" for a count too high', async () => {
    const from = await readCheckpoint(db.knex, 'tasks');
    const created = await tasks.create({ title: 'skipped', userId: owner }, context());
    // A checkpoint move that forgot the event: what a gap-skipping bug would do.
    await commitBatch(db.knex, 'tasks', from, created.position!);
    expect(await findingOf('tasks')).toMatchObject({ missing: 1, doubled: 0 });

    await db.knex('projection_event_counts').where({ projection: 'tasks', bucket: 0 }).increment('events', 3);
    expect(await findingOf('tasks')).toMatchObject({ missing: 0, doubled: 2 });
    expect((await projectionStatus({ knex: db.knex, eventStore })).find((s) => s.name === 'tasks')!.completeness!.problem).toBe('2 events applied twice');
    await db.knex('projection_event_counts').where({ projection: 'tasks', bucket: 0 }).decrement('events', 2);
    expect(await findingOf('tasks', { full: true })).toMatchObject({ missing: 0, doubled: 0 });
  });

  it('migrating a database whose projections already ran initialises their counts from the log: no false alarm', async () => {
    await countsMigration.down(db.knex);
    // A checkpoint that points into a log kept elsewhere (EventStoreDB): counting starts where it stands.
    await db.knex('projection_checkpoints').insert({ name: 'elsewhere', tx: '999999999', pos: '123456789' });
    await countsMigration.up(db.knex);
    for (const finding of await check({ names: ['tasks', 'users', 'elsewhere'], full: true })) expect(finding).toMatchObject({ missing: 0, doubled: 0 });
    expect(await db.knex('projection_checkpoints').where({ name: 'elsewhere' }).first()).toMatchObject({ counted_after_tx: '999999999', counted_after_pos: '123456789' });
    expect(await db.knex('projection_event_counts').where({ projection: 'elsewhere' })).toEqual([]);
  });
});
