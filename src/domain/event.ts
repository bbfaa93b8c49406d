/** A domain event as decided: a past-tense type and its data, nothing about where it is stored. */
export type Event<Type extends string = string, Data extends object = Record<string, unknown>> = Readonly<{
  type: Type;
  data: Readonly<Data>;
}>;

/** Facts about an event that are not part of the business decision. */
export type EventMetadata = Readonly<{
  eventId: string;
  occurredAt: string;
  /** user id, or `system` */
  actor: string;
  correlationId: string;
  causationId: string | null;
  traceparent?: string;
  /** Set on events a lock holder emits: the lock and the fencing token of its lease. */
  fencing?: Readonly<{ lock: string; token: string }>;
  schemaVersion: number;
}>;

/**
 * Position in the global log. Ordered lexicographically by (tx, pos): for the PostgreSQL
 * store `tx` is the appending transaction id and `pos` the global sequence number.
 */
export type LogPosition = Readonly<{ tx: bigint; pos: bigint }>;

export type RecordedEvent<E extends Event = Event> = E &
  Readonly<{
    streamId: string;
    /** 1-based revision of the event in its stream; the stream version after it. */
    streamVersion: number;
    position: LogPosition;
    metadata: EventMetadata;
  }>;

/** What `evolve` needs besides the event: when it happened. */
export type Stamped<E extends Event> = E & Readonly<{ occurredAt: string }>;

export const stamp = <E extends Event>(event: E, occurredAt: string): Stamped<E> => ({ ...event, occurredAt });

/** A stored event as its domain type, stamped with when it happened. The log is trusted to hold E. */
export const asStamped = <E extends Event>(recorded: RecordedEvent): Stamped<E> =>
  stamp(recorded as unknown as E, recorded.metadata.occurredAt);

/** The state a sequence of stored events leaves. */
export const foldRecorded = <E extends Event, S>(evolve: (state: S, event: Stamped<E>) => S, initial: S, events: readonly RecordedEvent[]): S =>
  events.reduce((state, event) => evolve(state, asStamped<E>(event)), initial);

export const compareLogPositions = (a: LogPosition, b: LogPosition): number =>
  a.tx === b.tx ? (a.pos === b.pos ? 0 : a.pos < b.pos ? -1 : 1) : a.tx < b.tx ? -1 : 1;

export const LOG_START: LogPosition = { tx: 0n, pos: 0n };

export const laterPosition = (a: LogPosition, b: LogPosition): LogPosition => (compareLogPositions(a, b) >= 0 ? a : b);

/** The latest of some positions (null when none is given). */
export const latestPosition = (...positions: readonly (LogPosition | null | undefined)[]): LogPosition | null =>
  positions.reduce<LogPosition | null>((a, b) => (!b ? a : !a ? b : laterPosition(a, b)), null);

/** A position as PostgreSQL returns it (bigint and xid8 columns come back as text). */
export const positionOf = (row: Readonly<{ tx: string | bigint; pos: string | bigint }>): LogPosition => ({ tx: BigInt(row.tx), pos: BigInt(row.pos) });
