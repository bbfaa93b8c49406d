import {
  END,
  EventStoreDBClient,
  excludeSystemEvents,
  FORWARDS,
  jsonEvent,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError,
  type AllStreamRecordedEvent,
  type AllStreamSubscription,
} from '@eventstore/db-client';
import { ConcurrencyError } from '../../domain/errors.js';
import { compareLogPositions, type LogPosition, type RecordedEvent } from '../../domain/event.js';
import type { AppendResult, EventStore, NewEvent, ReadAllResult, ReadStreamOptions } from './eventStore.js';
import {
  isSystemEvent,
  occurredBy,
  toExpectedRevision,
  toLogPosition,
  toReadPosition,
  toRecordedEvent,
  toStreamVersion,
} from './eventstoredbMapping.js';

/** lagAfter counts by reading $all; past this many events it reports the cap. */
const LAG_COUNT_CAP = 100_000;
const RESUBSCRIBE_MS = 1000;

const collect = async <T>(read: AsyncIterable<T>): Promise<T[]> => {
  const items: T[] = [];
  for await (const item of read) items.push(item);
  return items;
};

export const createEventStoreDbEventStore = (connectionString: string): EventStore => {
  const client = EventStoreDBClient.connectionString(connectionString);
  const listeners = new Set<() => void>();
  let subscription: AllStreamSubscription | null = null;
  let closed = false;

  const notify = () => listeners.forEach((l) => l());

  const isAfter = (event: AllStreamRecordedEvent, after: LogPosition) => compareLogPositions(toLogPosition(event.position), after) > 0;

  /** The events of $all after a position (never the one at it), system events left out. */
  const readAllAfter = async (after: LogPosition, maxCount: number) => {
    const resolved = await collect(client.readAll({ fromPosition: toReadPosition(after), direction: FORWARDS, maxCount }));
    const later = resolved.flatMap(({ event }) => (event && isAfter(event, after) ? [event] : []));
    return { mine: later.filter((e) => !isSystemEvent(e)), last: later.at(-1), exhausted: resolved.length < maxCount };
  };

  const subscribe = () => {
    if (closed || subscription) return;
    // The server filters system events out, so only appends to our streams wake the projectors.
    const current = client.subscribeToAll({ fromPosition: END, filter: excludeSystemEvents() });
    subscription = current;
    const resubscribe = () => {
      if (subscription !== current) return;
      subscription = null;
      // Wake subscribers so they poll while the subscription is away.
      notify();
      if (!closed && listeners.size) setTimeout(subscribe, RESUBSCRIBE_MS).unref();
    };
    current.on('data', notify);
    current.on('error', resubscribe);
    current.on('close', resubscribe);
  };

  return {
    async readStream(streamId: string, options: ReadStreamOptions = {}) {
      if (options.toVersion !== undefined && options.toVersion <= 0) return [];
      try {
        const resolved = await collect(
          client.readStream(streamId, { fromRevision: START, direction: FORWARDS, maxCount: options.toVersion ?? Number.MAX_SAFE_INTEGER }),
        );
        return resolved
          .flatMap(({ event }) => (event ? [toRecordedEvent(event)] : []))
          .filter((e) => occurredBy(e, options.toTime));
      } catch (error) {
        if (error instanceof StreamNotFoundError) return [];
        throw error;
      }
    },

    async appendToStream(streamId: string, events: readonly NewEvent[], { expectedVersion }: { expectedVersion: number }) {
      if (events.length === 0) throw new Error('appendToStream needs at least one event');
      const result = await client
        .appendToStream(
          streamId,
          events.map((e) => jsonEvent({ id: e.metadata.eventId, type: e.type, data: { ...e.data }, metadata: { ...e.metadata } })),
          { expectedRevision: toExpectedRevision(expectedVersion) },
        )
        .catch((error: unknown) => {
          if (error instanceof WrongExpectedVersionError) throw new ConcurrencyError(expectedVersion, toStreamVersion(error.actualVersion));
          throw error;
        });
      // The append reply's position is not documented to be the last event's position in $all
      // (servers differ for multi-event writes), and read-your-writes waits on exactly that: read it back.
      const [last] = await collect(client.readStream(streamId, { fromRevision: result.nextExpectedRevision, maxCount: 1 }));
      const position = last?.event?.position ?? result.position;
      if (!position) throw new Error(`EventStoreDB returned no log position for the append to ${streamId}`);
      return { nextVersion: toStreamVersion(result.nextExpectedRevision), position: toLogPosition(position) } satisfies AppendResult;
    },

    async readAll({ after, limit }: { after: LogPosition; limit: number }): Promise<ReadAllResult> {
      // $all is ordered at commit, so nothing can appear behind what was read: never blocked.
      const events: RecordedEvent[] = [];
      let from = after;
      for (;;) {
        // +1: the read starts with the event at `from`, which was handed out already.
        const { mine, last, exhausted } = await readAllAfter(from, limit - events.length + 1);
        events.push(...mine.map(toRecordedEvent));
        if (exhausted || events.length >= limit || !last) return { events: events.slice(0, limit), blocked: false };
        // Some of the page were system events: read on past the last one.
        from = toLogPosition(last.position);
      }
    },

    async lagAfter(position: LogPosition) {
      // Counted as they stream by rather than collected: the lag can be large.
      let events = 0;
      let oldest: Date | null = null;
      for await (const { event } of client.readAll({ fromPosition: toReadPosition(position), direction: FORWARDS, maxCount: LAG_COUNT_CAP + 1 })) {
        if (!event || isSystemEvent(event) || !isAfter(event, position)) continue;
        events += 1;
        oldest ??= event.created;
      }
      return { events, oldestRecordedAt: oldest?.toISOString() ?? null };
    },

    // $all is ordered by commit: an append in flight holds no reader back.
    oldestAppendInFlight: async () => null,

    onAppend(listener: () => void) {
      listeners.add(listener);
      subscribe();
      return () => listeners.delete(listener);
    },

    async close() {
      closed = true;
      listeners.clear();
      const current = subscription;
      subscription = null;
      await current?.unsubscribe().catch(() => undefined);
      await client.dispose();
    },
  };
};
