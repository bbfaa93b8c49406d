import type pg from 'pg';
import type { AppendInFlight } from './eventStore.js';

/** The same horizon must hold a read back this long before the in-flight transactions are examined. */
const EXAMINE_AFTER_MS = 20;
/** While one horizon keeps holding reads back, it is examined again at most this often. */
const EXAMINE_EVERY_MS = 250;

// Transactions of this database holding `events` for writing. An append takes RowExclusiveLock
// (also when the transaction holds a stronger lock), keeps it to its end, and takes it before its
// transaction id: so an appender that has or will have events in the log is always listed here.
const APPENDERS = `
  SELECT t.transactionid::text AS xid32, r.pid
  FROM pg_locks r JOIN pg_locks t ON t.virtualtransaction = r.virtualtransaction AND t.locktype = 'transactionid'
  WHERE r.locktype = 'relation' AND r.mode = 'RowExclusiveLock' AND r.relation = 'events'::regclass
    AND r.database = (SELECT oid FROM pg_database WHERE datname = current_database())`;

// Every in-flight transaction of the cluster, and whether it holds `events` (pg_locks shows 32-bit ids).
const IN_FLIGHT = `
  WITH appenders AS MATERIALIZED (${APPENDERS})
  SELECT x::text AS xid, (x::text::numeric % 4294967296)::text IN (SELECT xid32 FROM appenders) AS appending
  FROM pg_snapshot_xip(pg_current_snapshot()) AS x`;

// Asked after the locks were read: a transaction still running then was running when they were.
const STILL_RUNNING = `SELECT x AS xid FROM unnest($1::text[]) AS x WHERE pg_xact_status(x::xid8) = 'in progress'`;

const OLDEST_APPEND = `
  WITH appenders AS (${APPENDERS})
  SELECT a.xid32 AS xid, a.pid, s.xact_start, s.application_name
  FROM appenders a LEFT JOIN pg_stat_activity s ON s.pid = a.pid
  ORDER BY s.xact_start NULLS FIRST LIMIT 1`;

/**
 * Which in-flight transactions a gap-safe read may pass. A read hands out only events whose
 * transaction id is below every transaction that could still commit an event. A transaction that
 * already had an id and holds no write lock on `events` never appended (the lock would be held
 * to its end) and never will (`009_append_takes_its_own_xid` refuses an append from a transaction
 * that already has an id), so it is passable: a long migration, a batch job, an `idle in
 * transaction` session, a writer in another database of the cluster. Such transactions are found
 * only when one horizon holds reads back for a while; the common case costs nothing more.
 */
export const createAppendHorizon = (pool: pg.Pool) => {
  let passable: string[] = [];
  let heldBy: { horizon: string; since: number; examinedAt: number } | null = null;

  const examine = async (): Promise<boolean> => {
    const { rows } = await pool.query<{ xid: string; appending: boolean }>(IN_FLIGHT);
    const candidates = rows.filter((r) => !r.appending).map((r) => r.xid);
    const { rows: running } = candidates.length
      ? await pool.query<{ xid: string }>(STILL_RUNNING, [candidates])
      : { rows: [] as { xid: string }[] };
    const before = new Set(passable);
    // Transactions that ended drop out: only running ones can hold a horizon back.
    passable = running.map((r) => r.xid);
    return passable.some((xid) => !before.has(xid));
  };

  return {
    /** Transaction ids a read may pass (as text, for a `xid8[]` parameter). */
    passable: () => passable,
    /**
     * Told the horizon that held a read back (null: nothing did). True when transactions were
     * found passable since, so reading again at once may get further.
     */
    async heldBack(horizon: string | null): Promise<boolean> {
      const now = Date.now();
      if (horizon === null) {
        heldBy = null;
        return false;
      }
      if (heldBy?.horizon !== horizon) heldBy = { horizon, since: now, examinedAt: 0 };
      if (now - heldBy.since < EXAMINE_AFTER_MS || now - heldBy.examinedAt < EXAMINE_EVERY_MS) return false;
      heldBy.examinedAt = now;
      return examine();
    },
    /** The oldest transaction appending right now (a slow appender holds every reader back). */
    async oldestAppend(): Promise<AppendInFlight | null> {
      const { rows } = await pool.query<{ xid: string; pid: number | null; xact_start: Date | null; application_name: string | null }>(OLDEST_APPEND);
      const row = rows[0];
      if (!row) return null;
      return { transactionId: row.xid, pid: row.pid, startedAt: row.xact_start?.toISOString() ?? null, application: row.application_name || null };
    },
  };
};
export type AppendHorizon = ReturnType<typeof createAppendHorizon>;
