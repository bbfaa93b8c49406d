import type { Knex } from 'knex';
import { compareLogPositions, positionOf, type LogPosition } from '../../domain/event.js';
import type { WritePositions } from './positions.js';

type Pending = { position: LogPosition; waiters: { resolve: () => void; reject: (error: unknown) => void }[] };


/**
 * Positions in PostgreSQL. Concurrent notes share one statement (the writes of one moment of the
 * event loop), and a row only ever moves forward, whatever order the writes finish in.
 */
export const createPostgresWritePositions = (knex: Knex): WritePositions => {
  let pending = new Map<string, Pending>();
  let scheduled = false;

  const flush = async () => {
    scheduled = false;
    const batch = pending;
    pending = new Map();
    const users = [...batch.keys()];
    try {
      await knex.raw(
        `INSERT INTO user_write_positions AS w (user_id, tx, pos, written_at)
         SELECT u, t, p, now() FROM unnest(?::uuid[], ?::bigint[], ?::bigint[]) AS n(u, t, p)
         ON CONFLICT (user_id) DO UPDATE SET tx = excluded.tx, pos = excluded.pos, written_at = now()
         WHERE (w.tx, w.pos) < (excluded.tx, excluded.pos)`,
        [users, users.map((u) => batch.get(u)!.position.tx.toString()), users.map((u) => batch.get(u)!.position.pos.toString())],
      );
      for (const entry of batch.values()) entry.waiters.forEach((w) => w.resolve());
    } catch (error) {
      for (const entry of batch.values()) entry.waiters.forEach((w) => w.reject(error));
    }
  };

  // Lookups of one moment share one query too.
  let lookups: { userId: string; resolve: (p: LogPosition | null) => void; reject: (error: unknown) => void }[] = [];
  let asked = new Map<string, Promise<LogPosition | null>>();
  let lookupScheduled = false;
  const lookUp = async () => {
    lookupScheduled = false;
    const batch = lookups;
    lookups = [];
    asked = new Map();
    try {
      const rows = await knex('user_write_positions')
        .whereIn('user_id', [...new Set(batch.map((l) => l.userId))])
        .select<{ user_id: string; tx: string; pos: string }[]>('user_id', 'tx', 'pos');
      const found = new Map(rows.map((r) => [r.user_id, positionOf(r)]));
      for (const l of batch) l.resolve(found.get(l.userId) ?? null);
    } catch (error) {
      for (const l of batch) l.reject(error);
    }
  };

  return {
    note(userId, position) {
      return new Promise<void>((resolve, reject) => {
        const entry = pending.get(userId);
        if (!entry) pending.set(userId, { position, waiters: [{ resolve, reject }] });
        else {
          if (compareLogPositions(position, entry.position) > 0) entry.position = position;
          entry.waiters.push({ resolve, reject });
        }
        if (!scheduled) {
          scheduled = true;
          setImmediate(() => void flush());
        }
      });
    },
    lookup(userId) {
      let answer = asked.get(userId);
      if (!answer) {
        answer = new Promise((resolve, reject) => lookups.push({ userId, resolve, reject }));
        asked.set(userId, answer);
      }
      if (!lookupScheduled) {
        lookupScheduled = true;
        setImmediate(() => void lookUp());
      }
      return answer;
    },
    async recent(seconds) {
      const rows = await knex('user_write_positions')
        .where('written_at', '>', knex.raw(`now() - make_interval(secs => ?)`, [seconds]))
        .select<{ user_id: string; tx: string; pos: string }[]>('user_id', 'tx', 'pos');
      return new Map(rows.map((r) => [r.user_id, positionOf(r)]));
    },
  };
};
