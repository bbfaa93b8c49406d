import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createPgPool, createKnex } from '/work/main/src/infra/db/knex.js';
import { createPostgresEventStore } from '/work/main/src/infra/eventstore/postgres.js';
import { migrateToLatest } from '/work/main/src/infra/db/migrate.js';
import { LOG_START } from '/work/main/src/domain/event.js';
const url = 'postgres://postgres@127.0.0.1:5432/tf_stress';
const admin = new pg.Client('postgres://postgres@127.0.0.1:5432/test'); await admin.connect();
await admin.query('DROP DATABASE IF EXISTS tf_stress WITH (FORCE)'); await admin.query('CREATE DATABASE tf_stress'); await admin.end();
const k = createKnex(url); await migrateToLatest(k); await k.destroy();
const pool = createPgPool(url, 12); const store = createPostgresEventStore(pool, url);
const meta = () => ({ eventId: randomUUID(), occurredAt: new Date().toISOString(), actor: 's', correlationId: 'c', causationId: null, schemaVersion: 1 });
for (let round = 0; round < Number(process.argv[2] ?? 20); round++) {
  let writing = true; const seen: any[] = [];
  const start = await (async () => { let a = LOG_START; for (;;) { const r = await store.readAll({ after: a, limit: 5000 }); if (!r.events.length && !r.blocked) return a; a = r.events.at(-1)?.position ?? a; } })();
  const reader = (async () => { let after = start; for (;;) { const done = !writing; const { events, blocked } = await store.readAll({ after, limit: 500 }); seen.push(...events); after = events.at(-1)?.position ?? after; if (!events.length && !blocked && done) return; if (!events.length) await new Promise(r => setTimeout(r, 1)); } })();
  const written: string[] = [];
  await Promise.all(Array.from({ length: 8 }, async (_, w) => { const streams = Array.from({ length: 20 }, () => `s-${randomUUID()}`); const v = new Map(); let n = 0; while (n < 1000) { const id = streams[n % 20]; const size = Math.min(1 + (n % 3), 1000 - n); const evs = Array.from({ length: size }, () => ({ type: 'Load', data: {}, metadata: meta() })); await store.appendToStream(id, evs, { expectedVersion: v.get(id) ?? 0 }); evs.forEach(e => written.push(e.metadata.eventId)); v.set(id, (v.get(id) ?? 0) + size); n += size; } }));
  writing = false; await reader;
  const m = new Map(); let dups = 0;
  for (const e of seen) { if (m.has(e.metadata.eventId)) { dups++; if (dups < 4) console.log('DUP', m.get(e.metadata.eventId), e.position); } else m.set(e.metadata.eventId, e.position); }
  const missing = written.filter(id => !m.has(id));
  console.log('round', round, seen.length, 'dups', dups, 'missing', missing.length);
  if (missing.length) { const r = await pool.query(`select global_position, transaction_id::text from events where event_id = any($1)`, [missing.slice(0,5)]); console.log('missing rows', r.rows); }
}
await store.close(); await pool.end();
