import { NO_STREAM, START } from '@eventstore/db-client';
import type {
  AllStreamRecordedEvent,
  AppendExpectedRevision,
  CurrentRevision,
  Position,
  ReadPosition,
  RecordedEvent as EsdbRecordedEvent,
} from '@eventstore/db-client';
import { compareLogPositions, LOG_START, type EventMetadata, type LogPosition, type RecordedEvent } from '../../domain/event.js';

// Our stream versions count events (1 after the first, 0 = no stream);
// EventStoreDB revisions number them from 0.

export const toExpectedRevision = (expectedVersion: number): AppendExpectedRevision =>
  expectedVersion === 0 ? NO_STREAM : BigInt(expectedVersion - 1);

export const toStreamVersion = (revision: CurrentRevision): number =>
  revision === NO_STREAM ? 0 : Number(revision) + 1;

/** $all is ordered by (commit, prepare), which is our (tx, pos). */
export const toLogPosition = (position: Position): LogPosition => ({ tx: position.commit, pos: position.prepare });

export const toReadPosition = (position: LogPosition): ReadPosition =>
  compareLogPositions(position, LOG_START) === 0 ? START : { commit: position.tx, prepare: position.pos };

/** The server's own events ($stats, $projections, links `$>`, stream metadata `$$…`). */
export const isSystemEvent = (event: Pick<EsdbRecordedEvent, 'type' | 'streamId'>): boolean =>
  event.type.startsWith('$') || event.streamId.startsWith('$');

/** `toTime` bounds the moment the event happened, not when the server recorded it. */
export const occurredBy = (event: RecordedEvent, toTime: string | undefined): boolean =>
  toTime === undefined || Date.parse(event.metadata.occurredAt) <= Date.parse(toTime);

export const toRecordedEvent = (event: EsdbRecordedEvent | AllStreamRecordedEvent): RecordedEvent => {
  // Servers before 22.6 do not return positions on stream reads; the projections need them.
  if (!event.position) throw new Error(`EventStoreDB returned no log position for ${event.streamId}@${event.revision}: use server 22.6 or newer`);
  if (!event.isJson) throw new Error(`Event ${event.streamId}@${event.revision} is not JSON`);
  return {
    type: event.type,
    data: event.data as Record<string, unknown>,
    streamId: event.streamId,
    streamVersion: toStreamVersion(event.revision),
    position: toLogPosition(event.position),
    metadata: event.metadata as EventMetadata,
  };
};
