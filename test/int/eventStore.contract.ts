import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError } from '../../src/domain/errors.js';
import { compareLogPositions, LOG_START, type LogPosition, type RecordedEvent } from '../../src/domain/event.js';
import type { EventStore, NewEvent } from '../../src/infra/eventstore/eventStore.js';

export type EventStoreFixture = Readonly<{ eventStore: EventStore; dispose: () => Promise<void> }>;

const newEvent = (type: string, data: Record<string, unknown> = {}, occurredAt = new Date().toISOString()): NewEvent => ({
  type,
  data,
  metadata: {
    eventId: randomUUID(),
    occurredAt,
    actor: 'system',
    correlationId: randomUUID(),
    causationId: null,
    schemaVersion: 1,
  },
});

const stream = () => `contract-${randomUUID()}`;

/** Reads the whole global log after `from`, as a subscriber would. */
const readAllAfter = async (store: EventStore, from: LogPosition) => {
  const seen: RecordedEvent[] = [];
  let after = from;
  for (;;) {
    const { events, blocked } = await store.readAll({ after, limit: 1000 });
    if (events.length === 0 && !blocked) return seen;
    seen.push(...events);
    after = events.at(-1)?.position ?? after;
  }
};

/** The behaviour every EventStore adapter must have. */
export const eventStoreContract = (name: string, setup: () => Promise<EventStoreFixture>) =>
  describe(`EventStore contract: ${name}`, () => {
    let fixture: EventStoreFixture;
    let store: EventStore;
    beforeAll(async () => {
      fixture = await setup();
      store = fixture.eventStore;
    });
    afterAll(() => fixture?.dispose());

    it('appends to a new stream and reads it back in order with data and metadata', async () => {
      const id = stream();
      const events = [newEvent('A', { n: 1 }), newEvent('B', { n: 2, nested: { ok: true } })];
      const result = await store.appendToStream(id, events, { expectedVersion: 0 });
      expect(result.nextVersion).toBe(2);
      const read = await store.readStream(id);
      expect(read.map((e) => [e.type, e.data, e.streamVersion, e.streamId])).toEqual([
        ['A', { n: 1 }, 1, id],
        ['B', { n: 2, nested: { ok: true } }, 2, id],
      ]);
      expect(read[1]!.metadata).toEqual(events[1]!.metadata);
      expect(compareLogPositions(read[1]!.position, result.position)).toBe(0);
      expect(compareLogPositions(read[0]!.position, read[1]!.position)).toBe(-1);
    });

    it('reads an unknown stream as empty', async () => {
      expect(await store.readStream(stream())).toEqual([]);
    });

    it('refuses an append at a stale, future or missing expected version and appends nothing', async () => {
      const id = stream();
      await store.appendToStream(id, [newEvent('A'), newEvent('B')], { expectedVersion: 0 });
      for (const expectedVersion of [0, 1, 3, 7]) {
        await expect(store.appendToStream(id, [newEvent('X')], { expectedVersion })).rejects.toBeInstanceOf(
          ConcurrencyError,
        );
      }
      await expect(store.appendToStream(stream(), [newEvent('X')], { expectedVersion: 1 })).rejects.toBeInstanceOf(
        ConcurrencyError,
      );
      expect((await store.readStream(id)).map((e) => e.type)).toEqual(['A', 'B']);
      await store.appendToStream(id, [newEvent('C')], { expectedVersion: 2 });
      expect((await store.readStream(id)).map((e) => e.streamVersion)).toEqual([1, 2, 3]);
    });

    it('lets exactly one of many concurrent writers at the same version win', async () => {
      const id = stream();
      await store.appendToStream(id, [newEvent('A')], { expectedVersion: 0 });
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => store.appendToStream(id, [newEvent('W', { i }), newEvent('W2', { i })], { expectedVersion: 1 })),
      );
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      for (const o of outcomes)
        if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(ConcurrencyError);
      const read = await store.readStream(id);
      expect(read).toHaveLength(3);
      expect(read[1]!.data).toEqual(read[2]!.data);
    });

    it('reads a stream up to a version or a point in time', async () => {
      const id = stream();
      await store.appendToStream(id, [newEvent('A', {}, '2026-01-01T00:00:00.000Z')], { expectedVersion: 0 });
      await store.appendToStream(id, [newEvent('B', {}, '2026-01-02T00:00:00.000Z')], { expectedVersion: 1 });
      await store.appendToStream(id, [newEvent('C', {}, '2026-01-03T00:00:00.000Z')], { expectedVersion: 2 });
      expect((await store.readStream(id, { toVersion: 2 })).map((e) => e.type)).toEqual(['A', 'B']);
      expect((await store.readStream(id, { toTime: '2026-01-02T12:00:00.000Z' })).map((e) => e.type)).toEqual(['A', 'B']);
      expect(await store.readStream(id, { toTime: '2025-12-31T00:00:00.000Z' })).toEqual([]);
    });

    it('reads the global log after a position, in a stable order, and reports the lag', async () => {
      const before = await readAllAfter(store, LOG_START);
      const start = before.at(-1)?.position ?? LOG_START;
      const id = stream();
      await store.appendToStream(id, [newEvent('A'), newEvent('B')], { expectedVersion: 0 });
      await store.appendToStream(id, [newEvent('C')], { expectedVersion: 2 });
      const after = await readAllAfter(store, start);
      expect(after.map((e) => e.type)).toEqual(['A', 'B', 'C']);
      const lag = await store.lagAfter(start);
      expect(lag.events).toBe(3);
      // The oldest event not yet applied is A, appended a moment ago.
      expect(Date.now() - Date.parse(lag.oldestRecordedAt!)).toBeLessThan(60_000);
      expect((await store.lagAfter(after.at(-1)!.position)).oldestRecordedAt).toBeNull();
      expect((await store.lagAfter(after[0]!.position)).events).toBe(2);
      const limited = await store.readAll({ after: start, limit: 2 });
      expect(limited.events.map((e) => e.type)).toEqual(['A', 'B']);
      expect((await readAllAfter(store, after.at(-1)!.position))).toEqual([]);
    });

    it('reports no append in flight once appends have ended', async () => {
      await store.appendToStream(stream(), [newEvent('A')], { expectedVersion: 0 });
      expect(await store.oldestAppendInFlight()).toBeNull();
    });

    it('wakes subscribers when events are appended', async () => {
      const woken = new Promise<void>((resolve) => {
        const off = store.onAppend(() => {
          off();
          resolve();
        });
      });
      await new Promise((r) => setTimeout(r, 200)); // let a LISTEN connection come up
      await store.appendToStream(stream(), [newEvent('A')], { expectedVersion: 0 });
      await expect(Promise.race([woken, new Promise((_, reject) => setTimeout(() => reject(new Error('no wake-up')), 5000))])).resolves.toBeUndefined();
    });

    it('hands a reader every event exactly once while 8 writers append 8,000 events', async () => {
      const start = (await readAllAfter(store, LOG_START)).at(-1)?.position ?? LOG_START;
      const writers = 8;
      const perWriter = 1000;
      let writing = true;
      const seen: RecordedEvent[] = [];
      const reader = (async () => {
        let after = start;
        for (;;) {
          // Only a read that began after the last append finished may end the subscription.
          const writersDone = !writing;
          const { events, blocked } = await store.readAll({ after, limit: 500 });
          seen.push(...events);
          after = events.at(-1)?.position ?? after;
          if (events.length === 0 && !blocked && writersDone) return;
          if (events.length === 0) await new Promise((r) => setTimeout(r, 1));
        }
      })();
      const started = performance.now();
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          const streams = Array.from({ length: 20 }, stream);
          const versions = new Map<string, number>();
          let written = 0;
          while (written < perWriter) {
            const id = streams[written % streams.length]!;
            const size = Math.min(1 + (written % 3), perWriter - written);
            const batch = Array.from({ length: size }, (_, i) => newEvent('Load', { w, n: written + i }));
            const expectedVersion = versions.get(id) ?? 0;
            await store.appendToStream(id, batch, { expectedVersion });
            versions.set(id, expectedVersion + size);
            written += size;
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      writing = false;
      await reader;
      const load = seen.filter((e) => e.type === 'Load');
      const ids = new Set(load.map((e) => e.metadata.eventId));
      const repeated = load.filter((e, i) => load.findIndex((o) => o.metadata.eventId === e.metadata.eventId) !== i);
      expect(repeated.map((e) => `${e.streamId}@${e.streamVersion} (${e.position.tx}/${e.position.pos})`)).toEqual([]);
      expect(load).toHaveLength(writers * perWriter);
      expect(ids.size).toBe(writers * perWriter);
      for (let i = 1; i < seen.length; i++) expect(compareLogPositions(seen[i - 1]!.position, seen[i]!.position)).toBe(-1);
      const byStream = new Map<string, number[]>();
      for (const e of load) byStream.set(e.streamId, [...(byStream.get(e.streamId) ?? []), e.streamVersion]);
      for (const versions of byStream.values()) expect(versions).toEqual(versions.map((_, i) => i + 1));
      console.log(`[${name}] ${writers} writers appended ${writers * perWriter} events in ${seconds.toFixed(2)} s: ${Math.round((writers * perWriter) / seconds)} events/s`);
    }, 120_000);
  });
