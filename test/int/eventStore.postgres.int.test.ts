import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOG_START } from '../../src/domain/event.js';
import { createPgPool } from '../../src/infra/db/knex.js';
import { createPostgresEventStore } from '../../src/infra/eventstore/postgres.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventStoreContract } from './eventStore.contract.js';

eventStoreContract('PostgreSQL', async () => {
  const db = await createTestDatabase();
  const pool = createPgPool(db.url, 12);
  const eventStore = createPostgresEventStore(pool, db.url);
  return {
    eventStore,
    dispose: async () => {
      await eventStore.close();
      await pool.end();
      await db.drop();
    },
  };
});

/** A database and a pool of its own for the enclosing describe block (its log starts empty). */
const ownDatabase = () => {
  const own = {} as { db: TestDatabase; pool: pg.Pool };
  beforeAll(async () => {
    own.db = await createTestDatabase();
    own.pool = createPgPool(own.db.url);
  });
  afterAll(async () => {
    await own.pool?.end();
    await own.db?.drop();
  });
  return own;
};

describe('PostgreSQL event store: gap safety and immutability', () => {
  const own = ownDatabase();

  it('does not hand out an event that committed while an earlier-numbered transaction is still open', async () => {
    const store = createPostgresEventStore(own.pool, own.db.url);
    const slow = new pg.Client({ connectionString: own.db.url });
    await slow.connect();
    try {
      await slow.query('BEGIN');
      await slow.query(
        `INSERT INTO events (stream_id, stream_version, event_id, type, data, metadata, occurred_at)
         VALUES ($1, 1, $2, 'Slow', '{}', '{}', now())`,
        [`slow-${randomUUID()}`, randomUUID()],
      );
      const meta = { eventId: randomUUID(), occurredAt: new Date().toISOString(), actor: 'system', correlationId: 'c', causationId: null, schemaVersion: 1 };
      await store.appendToStream(`fast-${randomUUID()}`, [{ type: 'Fast', data: {}, metadata: meta }], { expectedVersion: 0 });

      const whileOpen = await store.readAll({ after: LOG_START, limit: 100 });
      expect(whileOpen.events.map((e) => e.type)).toEqual([]);
      expect(whileOpen.blocked).toBe(true);

      await slow.query('COMMIT');
      // Transactions of other databases on the same server can hold the horizon back a moment.
      let afterCommit = await store.readAll({ after: LOG_START, limit: 100 });
      for (let i = 0; afterCommit.blocked && i < 500; i++) {
        await new Promise((r) => setTimeout(r, 10));
        afterCommit = await store.readAll({ after: LOG_START, limit: 100 });
      }
      expect(afterCommit.events.map((e) => e.type)).toEqual(['Slow', 'Fast']);
      expect(afterCommit.blocked).toBe(false);
    } finally {
      await slow.end();
      await store.close();
    }
  });

  it('orders the log by transaction id as a number, also across a power of ten', async () => {
    const store = createPostgresEventStore(own.pool, own.db.url);
    try {
      // Transaction ids written by hand, small enough to be in the past of any server.
      for (const [tx, type] of [[100, 'Later'], [99, 'Earlier']] as const)
        await own.pool.query(
          `INSERT INTO events (transaction_id, stream_id, stream_version, event_id, type, data, metadata, occurred_at)
           VALUES ($1::text::xid8, $2, 1, $3, $4, '{}', '{}', now())`,
          [String(tx), `order-${randomUUID()}`, randomUUID(), type],
        );
      const { events } = await store.readAll({ after: LOG_START, limit: 2 });
      expect(events.map((e) => [e.type, e.position.tx])).toEqual([['Earlier', 99n], ['Later', 100n]]);
    } finally {
      await store.close();
    }
  });

  it('refuses to change or delete a recorded event', async () => {
    await expect(own.pool.query(`UPDATE events SET type = 'Forged'`)).rejects.toThrow(/append-only/);
    await expect(own.pool.query('DELETE FROM events')).rejects.toThrow(/append-only/);
    await expect(own.pool.query('TRUNCATE events')).rejects.toThrow(/append-only/);
  });
});

describe('PostgreSQL event store: wake-ups across instances', () => {
  const own = ownDatabase();

  it('wakes another instance through NOTIFY, and its own subscribers once, not again by its own NOTIFY', async () => {
    const [one, two] = [createPostgresEventStore(own.pool, own.db.url), createPostgresEventStore(own.pool, own.db.url)];
    const wakes = { one: 0, two: 0 };
    const offs = [one.onAppend(() => wakes.one++), two.onAppend(() => wakes.two++)];
    try {
      // Both LISTEN connections are up once a foreign NOTIFY reaches each of them.
      for (let i = 0; i < 100 && (wakes.one === 0 || wakes.two === 0); i++) {
        await own.pool.query(`SELECT pg_notify('taskflow_events', 'someone else')`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 100));
      Object.assign(wakes, { one: 0, two: 0 });

      const meta = { eventId: randomUUID(), occurredAt: new Date().toISOString(), actor: 'system', correlationId: 'c', causationId: null, schemaVersion: 1 };
      await one.appendToStream(`wake-${randomUUID()}`, [{ type: 'Woken', data: {}, metadata: meta }], { expectedVersion: 0 });
      expect(wakes.one).toBe(1); // directly, at once
      for (let i = 0; i < 500 && wakes.two < 1; i++) await new Promise((r) => setTimeout(r, 10));
      expect(wakes.two).toBe(1); // through NOTIFY
      await new Promise((r) => setTimeout(r, 200));
      expect(wakes).toEqual({ one: 1, two: 1 });
    } finally {
      offs.forEach((off) => off());
      await Promise.all([one.close(), two.close()]);
    }
  });
});
