import pg from 'pg';
import type { LogPosition } from '../../domain/event.js';
import { ALL_SCOPES, fromPositionKey, positionKey } from './cache.js';
import type { CacheChange, InvalidationBus } from './memory.js';

export const CACHE_CHANNEL = 'taskflow_cache';
/** NOTIFY payloads are limited to 8000 bytes. */
const MAX_PAYLOAD = 7900;

/**
 * The NOTIFY payload of a committed change. The projector sends it inside its batch's commit
 * (`pg_notify` in the same statement), so it reaches every listening instance exactly when the
 * batch commits, crash or not. Too many scopes for one payload: every entry is forgotten.
 */
export const cacheChangePayload = (scopes: readonly string[], to: LogPosition): string => {
  const payload = JSON.stringify({ to: positionKey(to), scopes });
  return payload.length <= MAX_PAYLOAD ? payload : JSON.stringify({ to: positionKey(to), scopes: [ALL_SCOPES] });
};

/** The payload that makes every instance forget every entry. */
export const FORGET_ALL_PAYLOAD = JSON.stringify({ scopes: [ALL_SCOPES] });

const parse = (payload: string | undefined): CacheChange => {
  try {
    const { to, scopes } = JSON.parse(payload ?? '') as { to?: string; scopes?: string[] };
    if (Array.isArray(scopes)) return { scopes, to: to ? fromPositionKey(to) : null };
  } catch {
    // not ours: forget everything rather than guess
  }
  return { scopes: [ALL_SCOPES], to: null };
};

/** Cache changes over PostgreSQL LISTEN/NOTIFY, for instances that share only a database. */
export const createPgInvalidationBus = (pool: pg.Pool, connectionString: string) => {
  let client: pg.Client | null = null;
  const handlers: ((change: CacheChange) => void)[] = [];
  let closed = false;
  let listening = false;
  const everything: CacheChange = { scopes: [ALL_SCOPES], to: null };
  const tell = (change: CacheChange) => handlers.forEach((h) => h(change));

  const listen = async () => {
    if (closed) return;
    const c = new pg.Client({ connectionString, application_name: 'taskflow-cache-bus' });
    client = c;
    const retry = () => {
      if (client !== c) return;
      client = null;
      // Changes sent while we do not listen are lost: forget everything now and again once back.
      if (listening) tell(everything);
      listening = false;
      c.end().catch(() => undefined);
      if (!closed) setTimeout(() => void listen(), 1000).unref();
    };
    c.on('error', retry);
    c.on('end', retry);
    c.on('notification', (message) => tell(parse(message.payload)));
    try {
      await c.connect();
      await c.query(`LISTEN ${CACHE_CHANNEL}`);
      tell(everything);
      listening = true;
    } catch {
      retry();
    }
  };

  const bus: InvalidationBus & { close: () => Promise<void> } = {
    async publishAll() {
      await pool.query('SELECT pg_notify($1, $2)', [CACHE_CHANNEL, FORGET_ALL_PAYLOAD]);
    },
    subscribe(handler) {
      handlers.push(handler);
      if (!client) void listen();
    },
    listening: () => listening,
    async close() {
      closed = true;
      listening = false;
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
    },
  };
  return bus;
};
