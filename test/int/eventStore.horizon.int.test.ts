import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareLogPositions, LOG_START, type LogPosition, type RecordedEvent } from '../../src/domain/event.js';
import { createKnex, createPgPool } from '../../src/infra/db/knex.js';
import { migrateToLatest } from '../../src/infra/db/migrate.js';
import type { EventStore, NewEvent } from '../../src/infra/eventstore/eventStore.js';
import { createPostgresEventStore } from '../../src/infra/eventstore/postgres.js';
import { startPrivatePostgres, type PrivatePostgres } from '../support/privatePostgres.js';

// These tests hold transactions open, which holds back every reader of a cluster: they run on a
// PostgreSQL cluster of their own.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const newEvent = (type: string, data: Record<string, unknown> = {}): NewEvent => ({
  type,
  data,
  metadata: { eventId: randomUUID(), occurredAt: new Date().toISOString(), actor: 'system', correlationId: 'c', causationId: null, schemaVersion: 1 },
});

const INSERT_EVENT = `INSERT INTO events (stream_id, stream_version, event_id, type, data, metadata, occurred_at)
  VALUES ($1, 1, $2, 'Manual', '{}', '{}', now())`;

/** A reader that follows the log as a projection does, noting when it first saw each event. */
const follow = (store: EventStore, from: LogPosition) => {
  const seen: RecordedEvent[] = [];
  const seenAt = new Map<string, number>();
  let stopping = false;
  let after = from;
  const done = (async () => {
    for (;;) {
      const stop = stopping;
      const { events, blocked } = await store.readAll({ after, limit: 200 });
      for (const e of events) seenAt.set(e.metadata.eventId, performance.now());
      seen.push(...events);
      after = events.at(-1)?.position ?? after;
      if (stop && events.length === 0 && !blocked) return;
      if (events.length === 0) await sleep(blocked ? 2 : 5);
    }
  })();
  return {
    seen,
    seenAt,
    /** Ends once a read that began after this call found nothing more. */
    drain: async () => {
      stopping = true;
      await done;
    },
  };
};

/** Every event was handed out once, in log order. */
const expectExactlyOnceInOrder = (seen: readonly RecordedEvent[], committedIds: readonly string[]) => {
  const ids = seen.map((e) => e.metadata.eventId);
  expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  expect([...ids].sort()).toEqual([...committedIds].sort());
  for (let i = 1; i < seen.length; i++) expect(compareLogPositions(seen[i - 1]!.position, seen[i]!.position)).toBe(-1);
};

describe('PostgreSQL event store: horizon of the gap-safe read (own cluster)', () => {
  let cluster: PrivatePostgres;
  let url: string;
  let knex: Knex;
  let pool: pg.Pool;
  let store: EventStore;
  const clients: pg.Client[] = [];

  const connect = async (to = url) => {
    const client = new pg.Client({ connectionString: to });
    client.on('error', () => undefined);
    await client.connect();
    clients.push(client);
    return client;
  };
  const committedIds = async (after: LogPosition) =>
    (
      await pool.query<{ id: string }>(
        `SELECT event_id::text AS id FROM events WHERE (transaction_id, global_position) > ($1::text::xid8, $2::bigint)`,
        [after.tx.toString(), after.pos.toString()],
      )
    ).rows.map((r) => r.id);
  const head = async (): Promise<LogPosition> => {
    const { rows } = await pool.query<{ tx: string; pos: string }>(
      'SELECT transaction_id::text AS tx, global_position AS pos FROM events ORDER BY transaction_id DESC, global_position DESC LIMIT 1',
    );
    return rows[0] ? { tx: BigInt(rows[0].tx), pos: BigInt(rows[0].pos) } : LOG_START;
  };

  beforeAll(async () => {
    cluster = await startPrivatePostgres();
    url = await cluster.database('taskflow');
    knex = createKnex(url);
    await migrateToLatest(knex);
    await knex.raw('CREATE TABLE scratch (n int)');
    pool = createPgPool(url, 30);
    store = createPostgresEventStore(pool, url);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await store?.close();
    await pool?.end();
    await knex?.destroy();
    await cluster?.destroy();
  });

  it('refuses an append from a transaction that already has a transaction id, and appends nothing', async () => {
    const client = await connect();
    const before = await head();
    for (const takeAnId of ['SELECT pg_current_xact_id()', 'INSERT INTO scratch VALUES (1)']) {
      await client.query('BEGIN');
      await client.query(takeAnId);
      await expect(client.query(INSERT_EVENT, [`late-${randomUUID()}`, randomUUID()])).rejects.toThrow(/first write of its transaction/);
      await client.query('ROLLBACK');
    }
    // As the first write of a transaction, an append is fine, also followed by other statements.
    await client.query('BEGIN');
    await client.query(INSERT_EVENT, [`first-${randomUUID()}`, randomUUID()]);
    await client.query('INSERT INTO scratch VALUES (2)');
    await client.query('COMMIT');
    expect(await committedIds(before)).toHaveLength(1);
  });

  it('loses no event to a transaction that took an id before appending (the refusal above is what makes passing it safe)', async () => {
    const start = await head();
    const reader = follow(store, start);
    const early = await connect();
    await early.query('BEGIN');
    await early.query('SELECT pg_current_xact_id()'); // an id older than the append below
    await store.appendToStream(`after-${randomUUID()}`, [newEvent('After')], { expectedVersion: 0 });
    // The reader passes the open transaction: it holds no lock on the log.
    for (let i = 0; i < 200 && reader.seen.length === 0; i++) await sleep(10);
    expect(reader.seen.map((e) => e.type)).toEqual(['After']);
    // Now it tries to append with its old id: were that allowed, its event would land behind the reader.
    await early.query(INSERT_EVENT, [`late-${randomUUID()}`, randomUUID()]).catch(() => undefined);
    await early.query('COMMIT').catch(() => undefined);
    await reader.drain();
    expectExactlyOnceInOrder(reader.seen, await committedIds(start));
  });

  for (const where of ['the same database, after writing another table', 'another database of the cluster'] as const)
    it(`keeps handing out events within a second while a transaction with an id stays open in ${where}`, async () => {
      const foreign = await connect(where.startsWith('another') ? await cluster.database('elsewhere') : url);
      await foreign.query('BEGIN');
      await foreign.query(where.startsWith('another') ? 'SELECT pg_current_xact_id()' : 'INSERT INTO scratch VALUES (3)');
      const start = await head();
      const reader = follow(store, start);
      const appendedAt = new Map<string, number>();
      try {
        for (let i = 0; i < 30; i++) {
          const event = newEvent('WhileForeignOpen', { i });
          await store.appendToStream(`foreign-${randomUUID()}`, [event], { expectedVersion: 0 });
          appendedAt.set(event.metadata.eventId, performance.now());
          await sleep(50);
        }
        for (let i = 0; i < 200 && reader.seen.length < 30; i++) await sleep(10);
        const delays = [...appendedAt].map(([id, at]) => (reader.seenAt.get(id) ?? Infinity) - at);
        expect(Math.max(...delays)).toBeLessThan(1000);
      } finally {
        await foreign.query('COMMIT');
      }
      await reader.drain();
      expectExactlyOnceInOrder(reader.seen, await committedIds(start));
    });

  it('hands out every committed event exactly once while appenders are held open, commit out of order or roll back', async () => {
    // A test-only trigger holds chosen appends inside their transaction until the test lets each go.
    await pool.query(`
      CREATE FUNCTION hold_append() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.data ? 'hold' THEN
          PERFORM pg_advisory_xact_lock_shared((NEW.data->>'hold')::bigint);
          PERFORM pg_sleep(random() * 0.02);
          IF (NEW.data->>'fail')::boolean THEN RAISE EXCEPTION 'rolled back on purpose'; END IF;
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER hold_append AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION hold_append();
    `);
    const gate = await connect();
    const keys = Array.from({ length: 6 }, (_, i) => 1000 + i);
    for (const key of keys) await gate.query('SELECT pg_advisory_lock($1)', [key]);
    const foreign = await connect(await cluster.database('elsewhere'));
    await foreign.query('BEGIN');
    await foreign.query('SELECT pg_current_xact_id()');

    const start = await head();
    const reader = follow(store, start);
    try {
      const held = keys.map((key) =>
        store.appendToStream(`held-${key}-${randomUUID()}`, [newEvent('Held', { hold: key, fail: key % 3 === 0 }), newEvent('HeldToo')], {
          expectedVersion: 0,
        }),
      );
      held.forEach((p) => p.catch(() => undefined));
      await sleep(100);
      const oldest = await store.oldestAppendInFlight();
      expect(oldest).not.toBeNull();
      expect(Date.now() - Date.parse(oldest!.startedAt!)).toBeGreaterThanOrEqual(50);

      const writers = Array.from({ length: 8 }, async (_, w) => {
        for (let n = 0; n < 100; n++) await store.appendToStream(`free-${w}-${n}-${randomUUID()}`, [newEvent('Free', { w, n })], { expectedVersion: 0 });
      });
      // Let the held appends go one by one, in shuffled order, while the writers run.
      const order = [...keys].sort(() => Math.random() - 0.5);
      for (const key of order) {
        await sleep(20 + Math.random() * 80);
        await gate.query('SELECT pg_advisory_unlock($1)', [key]);
      }
      await Promise.all(writers);
      const outcomes = await Promise.allSettled(held);
      expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(keys.filter((k) => k % 3 === 0).length);
    } finally {
      await foreign.query('COMMIT');
      await pool.query('DROP TRIGGER hold_append ON events; DROP FUNCTION hold_append()');
    }
    await reader.drain();
    const committed = await committedIds(start);
    expect(committed).toHaveLength(800 + 2 * keys.filter((k) => k % 3 !== 0).length);
    expectExactlyOnceInOrder(reader.seen, committed);
    expect(await store.oldestAppendInFlight()).toBeNull();
  }, 60_000);
});
