import { randomUUID } from 'node:crypto';
import { taskCommands } from '../../src/commands/tasks.js';
import { userCommands } from '../../src/commands/users.js';
import { SYSTEM } from '../../src/domain/actor.js';
import type { LogPosition } from '../../src/domain/event.js';
import { createPgPool } from '../../src/infra/db/knex.js';
import type { EventStore } from '../../src/infra/eventstore/eventStore.js';
import { createPostgresEventStore } from '../../src/infra/eventstore/postgres.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export type EventLog = Readonly<{
  db: TestDatabase;
  pool: ReturnType<typeof createPgPool>;
  eventStore: ReturnType<typeof createPostgresEventStore>;
  tasks: ReturnType<typeof taskCommands>;
  /** A registered user who owns the tasks the test creates. */
  owner: string;
}>;

/** Command options of the system actor, a new correlation id each time. */
export const systemOptions = (now = new Date().toISOString()) => ({ context: { now, actor: SYSTEM }, correlationId: randomUUID() });

/** Registers a user (a new address each time) and returns their id. */
export const registerOwner = async (eventStore: EventStore) => {
  const registered = await userCommands({ eventStore }).register(
    { email: `owner-${randomUUID()}@test.example`, name: 'Owner', password: 'long enough' },
    { now: new Date().toISOString(), correlationId: 'test' },
  );
  return registered.state.kind === 'registered' ? registered.state.user.id : '';
};

/** A database of its own with the PostgreSQL event log, the task commands and a registered owner. */
export const openEventLog = async (): Promise<EventLog> => {
  const db = await createTestDatabase();
  const pool = createPgPool(db.url);
  const eventStore = createPostgresEventStore(pool, db.url);
  return { db, pool, eventStore, tasks: taskCommands({ eventStore }), owner: await registerOwner(eventStore) };
};

export const closeEventLog = async (log: Partial<EventLog>) => {
  await log.eventStore?.close();
  await log.pool?.end();
  await log.db?.drop();
};

/** The position of the last event in the log. */
export const logHead = async (log: Pick<EventLog, 'db'>): Promise<LogPosition> => {
  const row = await log.db.knex('events').select(log.db.knex.raw('transaction_id::text AS tx'), 'global_position').orderByRaw('transaction_id DESC, global_position DESC').first();
  return row ? { tx: BigInt(row.tx), pos: BigInt(row.global_position) } : { tx: 0n, pos: 0n };
};
