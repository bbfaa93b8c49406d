import { NO_STREAM, START } from '@eventstore/db-client';
import type { RecordedEvent as EsdbRecordedEvent } from '@eventstore/db-client';
import { describe, expect, it } from 'vitest';
import { compareLogPositions, LOG_START } from '../../src/domain/event.js';
import {
  isSystemEvent,
  occurredBy,
  toExpectedRevision,
  toLogPosition,
  toReadPosition,
  toRecordedEvent,
  toStreamVersion,
} from '../../src/infra/eventstore/eventstoredbMapping.js';

const metadata = {
  eventId: '6f1c2f4e-3a0b-4a57-9d7e-6f2f1f0a8b11',
  occurredAt: '2026-01-02T00:00:00.000Z',
  actor: 'system',
  correlationId: 'c-1',
  causationId: null,
  schemaVersion: 1,
};

const recorded = (overrides: Partial<Record<string, unknown>> = {}) =>
  ({
    streamId: 'task-1',
    id: metadata.eventId,
    isJson: true,
    revision: 2n,
    type: 'TaskCreated',
    created: new Date('2026-01-02T00:00:01.000Z'),
    data: { title: 'Write the report', nested: { ok: true } },
    metadata,
    position: { commit: 900n, prepare: 800n },
    ...overrides,
  }) as unknown as EsdbRecordedEvent;

describe('EventStoreDB mapping', () => {
  it('maps our 1-based stream versions to 0-based expected revisions', () => {
    expect(toExpectedRevision(0)).toBe(NO_STREAM);
    expect(toExpectedRevision(1)).toBe(0n);
    expect(toExpectedRevision(42)).toBe(41n);
  });

  it('maps a current revision back to our stream version', () => {
    expect(toStreamVersion(NO_STREAM)).toBe(0);
    expect(toStreamVersion(0n)).toBe(1);
    expect(toStreamVersion(41n)).toBe(42);
    for (const version of [1, 2, 17, 1000]) expect(toStreamVersion(toExpectedRevision(version) as bigint)).toBe(version);
  });

  it('orders positions as $all does: by commit, then prepare', () => {
    const a = toLogPosition({ commit: 100n, prepare: 100n });
    const b = toLogPosition({ commit: 200n, prepare: 100n });
    const c = toLogPosition({ commit: 200n, prepare: 150n });
    expect(a).toEqual({ tx: 100n, pos: 100n });
    expect(compareLogPositions(a, b)).toBe(-1);
    expect(compareLogPositions(b, c)).toBe(-1);
  });

  it('reads from the start of $all for the log start and from the exact position otherwise', () => {
    expect(toReadPosition(LOG_START)).toBe(START);
    expect(toReadPosition({ tx: 900n, pos: 800n })).toEqual({ commit: 900n, prepare: 800n });
  });

  it('tells the server’s own events from ours', () => {
    expect(isSystemEvent({ type: 'TaskCreated', streamId: 'task-1' })).toBe(false);
    expect(isSystemEvent({ type: '$statsCollected', streamId: '$stats-127.0.0.1:2113' })).toBe(true);
    expect(isSystemEvent({ type: '$>', streamId: '$ce-task' })).toBe(true);
    expect(isSystemEvent({ type: '$metadata', streamId: '$$task-1' })).toBe(true);
    expect(isSystemEvent({ type: 'Anything', streamId: '$projections-$all' })).toBe(true);
  });

  it('turns a recorded event into ours, metadata untouched', () => {
    expect(toRecordedEvent(recorded())).toEqual({
      type: 'TaskCreated',
      data: { title: 'Write the report', nested: { ok: true } },
      streamId: 'task-1',
      streamVersion: 3,
      position: { tx: 900n, pos: 800n },
      metadata,
    });
  });

  it('refuses events it cannot place in the log or decode', () => {
    expect(() => toRecordedEvent(recorded({ position: undefined }))).toThrow(/22\.6 or newer/);
    expect(() => toRecordedEvent(recorded({ isJson: false, data: new Uint8Array() }))).toThrow(/not JSON/);
  });

  it('bounds a point-in-time read by when the event occurred', () => {
    const event = toRecordedEvent(recorded());
    expect(occurredBy(event, undefined)).toBe(true);
    expect(occurredBy(event, '2026-01-02T00:00:00.000Z')).toBe(true);
    expect(occurredBy(event, '2026-01-02T01:00:00+01:00')).toBe(true);
    expect(occurredBy(event, '2026-01-01T23:59:59.999Z')).toBe(false);
  });
});
