import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { ConcurrencyError } from '../../domain/errors.js';
import { compareLogPositions, positionOf, type EventMetadata, type LogPosition, type RecordedEvent } from '../../domain/event.js';
import { createAppendHorizon } from './appendHorizon.js';
import type { AppendResult, EventStore, NewEvent, ReadAllResult, ReadStreamOptions } from './eventStore.js';

const CHANNEL = 'taskflow_events';
const NOTIFY_COALESCE_MS = 2;

type EventRow = {
  global_position: string;
  tx: string;
  stream_id: string;
  stream_version: number;
  type: string;
  data: Record<string, unknown>;
  metadata: EventMetadata;
  safe?: boolean;
  horizon?: string;
};

// The transaction id goes out as text under another name: an output column named
// transaction_id would make ORDER BY sort the text, and "1000000" sorts before "999999".
const COLUMNS = 'global_position, transaction_id::text AS tx, stream_id, stream_version, type, data, metadata';

const toRecorded = (row: EventRow): RecordedEvent => ({
  type: row.type,
  data: row.data,
  streamId: row.stream_id,
  streamVersion: row.stream_version,
  position: positionOf({ tx: row.tx, pos: row.global_position }),
  metadata: row.metadata,
});

// One statement: it inserts only when the stream is exactly at the expected version, and the
// unique (stream_id, stream_version) index turns a concurrent writer's race into an error.
const APPEND = `
  WITH current AS (SELECT coalesce(max(stream_version), 0) AS version FROM events WHERE stream_id = $1)
  INSERT INTO events (stream_id, stream_version, event_id, type, data, metadata, occurred_at)
  SELECT $1, current.version + e.ord, e.event_id, e.type, e.data, e.metadata, e.occurred_at
  FROM current,
       unnest($3::uuid[], $4::text[], $5::jsonb[], $6::jsonb[], $7::timestamptz[])
         WITH ORDINALITY AS e(event_id, type, data, metadata, occurred_at, ord)
  WHERE current.version = $2
  RETURNING stream_version, global_position, transaction_id::text AS tx`;

// An event is handed out only when its transaction id is below the horizon: the oldest transaction
// in flight at the read's snapshot that could still commit an event (see appendHorizon.ts for the
// ones that cannot, passed in as $4). With none in flight, every visible event is below xmax.
const READ_ALL = `
  WITH snapshot AS MATERIALIZED (SELECT pg_current_snapshot() AS s),
  horizon AS MATERIALIZED (
    SELECT coalesce(
      (SELECT min(x) FROM snapshot, pg_snapshot_xip(snapshot.s) AS x WHERE x <> ALL ($4::xid8[])),
      (SELECT pg_snapshot_xmax(s) FROM snapshot)) AS h)
  SELECT ${COLUMNS}, transaction_id < (SELECT h FROM horizon) AS safe, (SELECT h FROM horizon)::text AS horizon
  FROM events
  WHERE (transaction_id, global_position) > ($1::text::xid8, $2::bigint)
  ORDER BY events.transaction_id, events.global_position
  LIMIT $3`;

export const createPostgresEventStore = (pool: pg.Pool, connectionString: string): EventStore => {
  const horizon = createAppendHorizon(pool);
  const listeners = new Set<() => void>();
  let listener: pg.Client | null = null;
  let closed = false;

  const notify = () => listeners.forEach((l) => l());
  // This store's NOTIFYs carry its id: its own subscribers were already woken directly, and a
  // second wake-up would only cost them an empty read of the log.
  const storeId = randomUUID();

  // Other processes learn of appends through one NOTIFY per few milliseconds, sent after the
  // appends committed; subscribers in this process are woken directly.
  let notifyPending = false;
  const announceAppend = () => {
    notify();
    if (notifyPending) return;
    notifyPending = true;
    setTimeout(() => {
      notifyPending = false;
      pool.query(`SELECT pg_notify('${CHANNEL}', $1)`, [storeId]).catch(() => undefined);
    }, NOTIFY_COALESCE_MS);
  };

  const listen = async () => {
    if (closed || listener) return;
    const client = new pg.Client({ connectionString, application_name: 'taskflow-listener' });
    listener = client;
    const reconnect = () => {
      if (listener !== client) return;
      listener = null;
      client.end().catch(() => undefined);
      // Wake subscribers so they poll while the LISTEN connection is away.
      notify();
      if (!closed && listeners.size) setTimeout(() => void listen().catch(() => undefined), 1000).unref();
    };
    client.on('error', reconnect);
    client.on('end', reconnect);
    client.on('notification', (message) => message.payload !== storeId && notify());
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch {
      reconnect();
    }
  };

  return {
    async readStream(streamId: string, options: ReadStreamOptions = {}) {
      const { rows } = await pool.query<EventRow>(
        `SELECT ${COLUMNS} FROM events
         WHERE stream_id = $1 AND ($2::int IS NULL OR stream_version <= $2) AND ($3::timestamptz IS NULL OR occurred_at <= $3)
         ORDER BY stream_version`,
        [streamId, options.toVersion ?? null, options.toTime ?? null],
      );
      return rows.map(toRecorded);
    },

    async appendToStream(streamId: string, events: readonly NewEvent[], { expectedVersion }: { expectedVersion: number }) {
      if (events.length === 0) throw new Error('appendToStream needs at least one event');
      let rows: { stream_version: number; global_position: string; tx: string }[];
      try {
        ({ rows } = await pool.query(APPEND, [
          streamId,
          expectedVersion,
          events.map((e) => e.metadata.eventId),
          events.map((e) => e.type),
          events.map((e) => JSON.stringify(e.data)),
          events.map((e) => JSON.stringify(e.metadata)),
          events.map((e) => e.metadata.occurredAt),
        ]));
      } catch (error) {
        if ((error as { constraint?: string }).constraint === 'events_stream_version_unique')
          throw new ConcurrencyError(expectedVersion, null);
        throw error;
      }
      if (rows.length === 0) {
        const { rows: current } = await pool.query<{ version: number }>(
          'SELECT coalesce(max(stream_version), 0) AS version FROM events WHERE stream_id = $1',
          [streamId],
        );
        throw new ConcurrencyError(expectedVersion, current[0]?.version ?? 0);
      }
      announceAppend();
      const last = rows.reduce((a, b) => (a.stream_version > b.stream_version ? a : b));
      return {
        nextVersion: last.stream_version,
        position: positionOf({ tx: last.tx, pos: last.global_position }),
      } satisfies AppendResult;
    },

    async readAll({ after, limit }: { after: LogPosition; limit: number }): Promise<ReadAllResult> {
      for (let again = true; ; again = false) {
        const { rows } = await pool.query<EventRow>(READ_ALL, [after.tx.toString(), after.pos.toString(), limit, horizon.passable()]);
        const safe = rows.filter((r) => r.safe);
        const blocked = safe.length < rows.length;
        // Held back by the same transaction for a while: if it turns out passable, read again now.
        if ((await horizon.heldBack(blocked ? rows[0]!.horizon! : null)) && again) continue;
        // Belt and braces: never hand out anything at or before the position asked for.
        const events = safe.map(toRecorded).filter((e) => compareLogPositions(e.position, after) > 0);
        return { events, blocked };
      }
    },

    oldestAppendInFlight: () => horizon.oldestAppend(),

    async lagAfter(position: LogPosition) {
      const { rows } = await pool.query<{ events: string; oldest: Date | null }>(
        `SELECT count(*) AS events, min(recorded_at) AS oldest FROM events
         WHERE (transaction_id, global_position) > ($1::text::xid8, $2::bigint)`,
        [position.tx.toString(), position.pos.toString()],
      );
      return { events: Number(rows[0]?.events ?? 0), oldestRecordedAt: rows[0]?.oldest?.toISOString() ?? null };
    },

    onAppend(callback: () => void) {
      listeners.add(callback);
      void listen().catch(() => undefined);
      return () => listeners.delete(callback);
    },

    async close() {
      closed = true;
      listeners.clear();
      const client = listener;
      listener = null;
      await client?.end().catch(() => undefined);
    },
  };
};
