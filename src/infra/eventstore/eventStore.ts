import type { Event, EventMetadata, LogPosition, RecordedEvent } from '../../domain/event.js';


export type NewEvent = Event & Readonly<{ metadata: EventMetadata }>;

/** A transaction that holds the log for writing: it is appending, or has appended and not ended. */
export type AppendInFlight = Readonly<{ transactionId: string; pid: number | null; startedAt: string | null; application: string | null }>;

export type AppendResult = Readonly<{
  /** The stream version after the append. */
  nextVersion: number;
  /** Position of the last appended event in the global log. */
  position: LogPosition;
}>;

export type ReadAllResult = Readonly<{
  events: RecordedEvent[];
  /**
   * True when later events exist but cannot be handed out yet without risking a gap
   * (an earlier transaction is still in flight); the caller should read again shortly.
   */
  blocked: boolean;
}>;

export type ReadStreamOptions = Readonly<{ toVersion?: number; toTime?: string }>;

/** The event log port. Every adapter runs `test/int/eventStore.contract.ts`. */
export interface EventStore {
  /** The events of one stream in order, optionally only up to a version or a point in time. */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /**
   * Appends atomically. `expectedVersion` is the stream version the caller decided on
   * (0 = the stream must not exist); any other version fails with ConcurrencyError.
   */
  appendToStream(streamId: string, events: readonly NewEvent[], options: { expectedVersion: number }): Promise<AppendResult>;
  /** The global log after a position, in an order that never changes once read, without gaps. */
  readAll(options: { after: LogPosition; limit: number }): Promise<ReadAllResult>;
  /**
   * How many committed events of the log lie after a position, and when the oldest of them was
   * recorded: also the events a gap-safe read is still holding back.
   */
  lagAfter(position: LogPosition): Promise<{ events: number; oldestRecordedAt: string | null }>;
  /**
   * The oldest transaction appending right now, or null: a slow appender holds every gap-safe
   * reader back until it ends (always null where appends cannot hold readers back).
   */
  oldestAppendInFlight(): Promise<AppendInFlight | null>;
  /** Calls back (coalesced, possibly spuriously) when new events may have been appended. */
  onAppend(listener: () => void): () => void;
  close(): Promise<void>;
}
