import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandOptions } from '../../src/commands/handleCommand.js';
import { taskCommands, type TaskCommands } from '../../src/commands/tasks.js';
import type { Actor } from '../../src/domain/actor.js';
import { ConcurrencyError } from '../../src/domain/errors.js';
import { taskStreamId } from '../../src/domain/task/events.js';
import { createPgPool } from '../../src/infra/db/knex.js';
import type { EventStore } from '../../src/infra/eventstore/eventStore.js';
import { createPostgresEventStore } from '../../src/infra/eventstore/postgres.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/**
 * A command given a command id is recognised when it runs again (a request retried after a
 * crash): its events already in the stream are its answer, and nothing is appended twice.
 */
describe('handleCommand: a command that already ran (int, PostgreSQL)', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let eventStore: EventStore;
  let tasks: TaskCommands;
  const actor: Actor = { kind: 'user', userId: randomUUID(), role: 'user' };
  const outcomes: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPgPool(db.url);
    eventStore = createPostgresEventStore(pool, db.url);
    tasks = taskCommands({ eventStore, observe: (_type, outcome) => outcomes.push(outcome) });
  });
  afterAll(async () => {
    await eventStore?.close();
    await pool?.end();
    await db?.drop();
  });

  const options = (extra: Partial<CommandOptions> = {}): CommandOptions => ({
    context: { now: new Date().toISOString(), actor },
    correlationId: randomUUID(),
    ...extra,
  });
  const streamOf = (taskId: string) => eventStore.readStream(taskStreamId(taskId));
  const newTask = async () => (await tasks.create({ title: 'Target' }, options())).state;
  const idOf = (state: { kind: string; task?: { id: string } }) => state.task!.id;

  it('a create run again under its command id answers with the same task and appends nothing', async () => {
    const commandId = randomUUID();
    const first = await tasks.create({ title: 'Once' }, options({ commandId }));
    const again = await tasks.create({ title: 'Once' }, options({ commandId, recovering: true }));

    expect(again).toEqual(first);
    expect(await streamOf(idOf(first.state))).toHaveLength(1);
    expect(outcomes.at(-1)).toBe('replayed');
  });

  it('without a command id, the same create makes a second task (the control)', async () => {
    const first = await tasks.create({ title: 'Twice' }, options());
    const again = await tasks.create({ title: 'Twice' }, options());
    expect(idOf(again.state)).not.toBe(idOf(first.state));
  });

  it('is checked before If-Match: the stream moved on by its own event, and by later ones', async () => {
    const id = idOf(await newTask());
    const commandId = randomUUID();
    const first = await tasks.update(id, { title: 'Mine' }, options({ commandId, expectedVersion: 1 }));
    await tasks.update(id, { priority: 'HIGH' }, options());

    const again = await tasks.update(id, { title: 'Mine' }, options({ commandId, expectedVersion: 1, recovering: true }));
    expect(again).toEqual(first);
    expect(again.version).toBe(2);
    expect((await streamOf(id)).map((e) => e.type)).toEqual(['TaskCreated', 'TaskDetailsChanged', 'TaskPriorityChanged']);
    // A stale If-Match under another command id is still refused.
    await expect(tasks.update(id, { title: 'Late' }, options({ commandId: randomUUID(), expectedVersion: 1 }))).rejects.toBeInstanceOf(ConcurrencyError);
  });

  it('a delete run again answers as it did (not "not found")', async () => {
    const id = idOf(await newTask());
    const commandId = randomUUID();
    const first = await tasks.delete(id, options({ commandId }));
    const again = await tasks.delete(id, options({ commandId, recovering: true }));
    expect(again).toEqual(first);
    expect(again.state.kind).toBe('deleted');
  });

  it('two runs of one command racing: one appends, the other answers from its events (with or without If-Match)', async () => {
    const id = idOf(await newTask());
    for (const expectedVersion of [undefined, 2, 3]) {
      const commandId = randomUUID();
      const title = `Raced ${expectedVersion}`;
      const run = () => tasks.update(id, { title }, options({ commandId, recovering: true, ...(expectedVersion ? { expectedVersion } : {}) }));
      const results = await Promise.all([run(), run(), run()]);
      expect(results[1]).toEqual(results[0]);
      expect(results[2]).toEqual(results[0]);
    }
    const titles = (await streamOf(id)).filter((e) => e.type === 'TaskDetailsChanged').map((e) => e.data.title);
    expect(titles).toEqual(['Raced undefined', 'Raced 2', 'Raced 3']);
  });

  it('two runs of one create racing (one skips the read, the other recovers): one task, one event', async () => {
    const commandId = randomUUID();
    const [a, b] = await Promise.all([
      tasks.create({ title: 'Raced create' }, options({ commandId })),
      tasks.create({ title: 'Raced create' }, options({ commandId, recovering: true })),
    ]);
    expect(b).toEqual(a);
    expect(await streamOf(idOf(a.state))).toHaveLength(1);
  });

  it('a batch run again: each item is answered from its own events, items that had not run run now', async () => {
    const ids = [idOf(await newTask()), idOf(await newTask())];
    const commandId = randomUUID();
    const first = await tasks.batch(ids.slice(0, 1), 'delete', options({ commandId }));
    const again = await tasks.batch(ids, 'delete', options({ commandId, recovering: true }));

    expect(again.results).toEqual([
      { taskId: ids[0], success: true },
      { taskId: ids[1], success: true },
    ]);
    expect(again.positions[0]).toEqual(first.positions[0]);
    for (const id of ids) expect((await streamOf(id)).filter((e) => e.type === 'TaskDeleted')).toHaveLength(1);
  });
});
