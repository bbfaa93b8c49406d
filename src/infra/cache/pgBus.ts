import pg from 'pg';
import { ALL_SCOPES } from './cache.js';
import type { InvalidationBus } from './memory.js';

const CHANNEL = 'taskflow_cache';
const MAX_PAYLOAD = 7000;

/** Cache invalidations over PostgreSQL LISTEN/NOTIFY, for instances that share only a database. */
export const createPgInvalidationBus = (pool: pg.Pool, connectionString: string) => {
  let client: pg.Client | null = null;
  const handlers: ((scopes: readonly string[]) => void)[] = [];
  let closed = false;
  let wasListening = false;

  const listen = async () => {
    if (closed) return;
    const c = new pg.Client({ connectionString, application_name: 'taskflow-cache-bus' });
    client = c;
    const retry = () => {
      if (client !== c) return;
      client = null;
      c.end().catch(() => undefined);
      if (!closed) setTimeout(() => void listen(), 1000).unref();
    };
    c.on('error', retry);
    c.on('end', retry);
    c.on('notification', (message) => {
      const scopes = JSON.parse(message.payload ?? '[]') as string[];
      handlers.forEach((h) => h(scopes));
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANNEL}`);
      // Invalidations sent while we were not listening are lost: forget everything instead.
      if (wasListening) handlers.forEach((h) => h([ALL_SCOPES]));
      wasListening = true;
    } catch {
      retry();
    }
  };

  const bus: InvalidationBus & { close: () => Promise<void> } = {
    async publish(scopes) {
      // NOTIFY payloads are limited: as many scopes per message as fit.
      const send = (chunk: readonly string[]) => pool.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify(chunk)]);
      let chunk: string[] = [];
      let length = 2;
      for (const scope of scopes) {
        const size = JSON.stringify(scope).length + 1;
        if (chunk.length && length + size > MAX_PAYLOAD) {
          await send(chunk);
          chunk = [];
          length = 2;
        }
        chunk.push(scope);
        length += size;
      }
      if (chunk.length) await send(chunk);
    },
    subscribe(handler) {
      handlers.push(handler);
      if (!client) void listen();
    },
    async close() {
      closed = true;
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
    },
  };
  return bus;
};
