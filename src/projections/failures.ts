import type { Knex } from 'knex';
import { positionOf, type LogPosition, type RecordedEvent } from '../domain/event.js';

// A projection that cannot apply an event stops on it, and says so in the database, so every
// process (the CLI, /health on any instance) sees the same; an operator retries it or parks the
// event (see operations/repair.ts).

export const FAILURES_TABLE = 'projection_failures';
export const OPERATIONS_TABLE = 'projection_operations';

/** The event a projection stopped on. */
export type FailedEvent = Readonly<{ eventId: string; position: LogPosition; streamId: string; streamVersion: number; type: string }>;

export type ProjectionFailure = FailedEvent & Readonly<{ projection: string; error: string; attempts: number; failedAt: string }>;

/** An event an operator told a projection to skip: who, when and why. */
export type ParkedEvent = FailedEvent & Readonly<{ projection: string; error: string | null; reason: string; operator: string; at: string }>;

type EventColumns = { event_id: string; tx: string; pos: string; stream_id: string; stream_version: number; event_type: string };
type FailureRow = EventColumns & { projection: string; error: string; attempts: number; failed_at: Date };
type ParkedRow = EventColumns & { projection: string; error: string | null; reason: string; operator: string; at: Date };

export const failedEventOf = (event: RecordedEvent): FailedEvent => ({
  eventId: event.metadata.eventId,
  position: event.position,
  streamId: event.streamId,
  streamVersion: event.streamVersion,
  type: event.type,
});

export const eventColumns = (event: FailedEvent): EventColumns => ({
  event_id: event.eventId,
  tx: event.position.tx.toString(),
  pos: event.position.pos.toString(),
  stream_id: event.streamId,
  stream_version: event.streamVersion,
  event_type: event.type,
});

const toFailedEvent = (row: EventColumns): FailedEvent => ({
  eventId: row.event_id,
  position: positionOf(row),
  streamId: row.stream_id,
  streamVersion: row.stream_version,
  type: row.event_type,
});

const toFailure = (row: FailureRow): ProjectionFailure => ({
  projection: row.projection,
  ...toFailedEvent(row),
  error: row.error,
  attempts: row.attempts,
  failedAt: new Date(row.failed_at).toISOString(),
});

const toParked = (row: ParkedRow): ParkedEvent => ({
  projection: row.projection,
  ...toFailedEvent(row),
  error: row.error,
  reason: row.reason,
  operator: row.operator,
  at: new Date(row.at).toISOString(),
});

export const recordFailure = async (knex: Knex, projection: string, event: FailedEvent, error: string, attempts: number) => {
  const row = { projection, ...eventColumns(event), error: error.slice(0, 2000), attempts, failed_at: knex.fn.now() };
  await knex(FAILURES_TABLE).insert(row).onConflict('projection').merge();
};

/** The failure a projection stopped on; `lock` takes its row until the caller's transaction ends. */
export const findFailure = async (knex: Knex, projection: string, { lock = false } = {}): Promise<ProjectionFailure | null> => {
  const query = knex(FAILURES_TABLE).where({ projection });
  const row = await (lock ? query.forUpdate() : query).first<FailureRow | undefined>();
  return row ? toFailure(row) : null;
};

export const readFailures = async (knex: Knex): Promise<Map<string, ProjectionFailure>> => {
  const rows = await knex(FAILURES_TABLE).select<FailureRow[]>('*');
  return new Map(rows.map((row) => [row.projection, toFailure(row)]));
};

/** Every parked event, per projection, in log order. */
export const readParkedEvents = async (knex: Knex): Promise<Map<string, ParkedEvent[]>> => {
  const rows = await knex(OPERATIONS_TABLE).where({ action: 'park' }).orderBy(['projection', 'tx', 'pos']).select<ParkedRow[]>('*');
  const parked = new Map<string, ParkedEvent[]>();
  for (const row of rows) parked.set(row.projection, [...(parked.get(row.projection) ?? []), toParked(row)]);
  return parked;
};

/** The ids of the events a projection skips. */
export const readParkedEventIds = async (knex: Knex, projection: string): Promise<ReadonlySet<string>> => {
  const rows = await knex(OPERATIONS_TABLE).where({ projection, action: 'park' }).select<{ event_id: string }[]>('event_id');
  return new Set(rows.map((r) => r.event_id));
};
