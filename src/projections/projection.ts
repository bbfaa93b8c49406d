import type { Knex } from 'knex';
import type { RecordedEvent } from '../domain/event.js';

/** One SQL statement of a batch's write, with knex.raw placeholders (`?` values, `??` identifiers). */
export type Statement = Readonly<{ sql: string; bindings: readonly Knex.RawBinding[] }>;

/** What a batch changes: the statements that write it, and the cache scopes to invalidate once committed. */
export type BatchWrite = Readonly<{ statements: readonly Statement[]; scopes: readonly string[] }>;

/**
 * A batch's statements run as parts of one statement with the move of its checkpoint (see
 * commitBatch): each must write only `WHERE ${WHEN_CHECKPOINT_MOVED}`, so nothing is written when
 * another runner moved the checkpoint first. Parts share one snapshot: they must touch
 * different rows and cannot see each other's changes.
 */
export const WHEN_CHECKPOINT_MOVED = 'EXISTS (SELECT 1 FROM checkpoint_moved)';

/** A read model built from the log, or a subscription with side effects (no tables). */
export type Projection = Readonly<{
  name: string;
  /** Tables the projection owns, in the order they can be truncated. */
  tables: readonly string[];
  handles: ReadonlySet<string>;
  /** Reads what the batch needs (the rows it changes) and returns its write. */
  prepare: (knex: Knex, events: readonly RecordedEvent[]) => Promise<BatchWrite>;
}>;

export const NOTHING_TO_WRITE: BatchWrite = { statements: [], scopes: [] };

/** The events of a batch a projection applies: those it handles, except the ones an operator parked. */
export const eventsToApply = (projection: Pick<Projection, 'handles'>, events: readonly RecordedEvent[], parked: ReadonlySet<string>) =>
  events.filter((e) => projection.handles.has(e.type) && !parked.has(e.metadata.eventId));
