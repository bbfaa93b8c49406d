// Measures `projections rebuild tasks` on 100,000 events: 20,000 tasks × 5 events, appended
// through the event store into a fresh database (TEST_DATABASE_URL's server, or an embedded
// PostgreSQL), then rebuilt from the start of the log.
//   node --import tsx bench/rebuild.ts [--tasks 20000] [--batch 5000]
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { compose } from '../src/compose.js';
import { loadConfig } from '../src/config.js';
import type { EventMetadata } from '../src/domain/event.js';
import type { TaskEvent } from '../src/domain/task/events.js';
import { startEmbeddedPostgres } from '../src/infra/db/embedded.js';
import { silentLogger } from '../src/infra/logger.js';
import { rebuildProjection } from '../src/operations/rebuild.js';

const { values } = parseArgs({ options: { tasks: { type: 'string', default: '20000' }, batch: { type: 'string', default: '5000' } } });
const TASKS = Number(values.tasks);
const OWNERS = 200;
const CONCURRENCY = 8;

const openServer = async () => {
  if (process.env.TEST_DATABASE_URL) return { adminUrl: process.env.TEST_DATABASE_URL, stop: async () => {} };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'taskflow-bench-'));
  const db = await startEmbeddedPostgres(dir, { database: 'postgres' });
  return { adminUrl: db.url, stop: async () => { await db.stop(); await rm(dir, { recursive: true, force: true }); } };
};

const server = await openServer();
const name = `tf_bench_${Date.now()}`;
const admin = new pg.Client({ connectionString: server.adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const url = new URL(server.adminUrl);
url.pathname = `/${name}`;

const jwtSecret = 'bench-secret-that-is-long-enough-0123456789';
const config = loadConfig({ DATABASE_URL: url.toString(), JWT_SECRET: jwtSecret, LOG_LEVEL: 'error' });
const system = await compose(config, { url: url.toString(), embedded: false, jwtSecret, close: async () => {} }, { logger: silentLogger(), role: 'api', poolSize: CONCURRENCY });

const owners = Array.from({ length: OWNERS }, () => randomUUID());
const metadata = (at: Date): EventMetadata => ({
  eventId: randomUUID(),
  occurredAt: at.toISOString(),
  actor: 'system',
  correlationId: 'bench',
  causationId: null,
  schemaVersion: 1,
});
const lifeOf = (i: number): TaskEvent[] => {
  const taskId = randomUUID();
  return [
    { type: 'TaskCreated', data: { taskId, title: `Task ${i}`, description: i % 3 ? `About task ${i}` : null, status: 'PENDING', priority: 'MEDIUM', dueDate: null, userId: owners[i % OWNERS]! } },
    { type: 'TaskDetailsChanged', data: { title: `Task ${i}, renamed` } },
    { type: 'TaskStatusChanged', data: { from: 'PENDING', to: 'IN_PROGRESS' } },
    { type: 'TaskPriorityChanged', data: { from: 'MEDIUM', to: i % 2 ? 'HIGH' : 'LOW' } },
    { type: 'TaskDueDateChanged', data: { from: null, to: '2030-01-31T17:00:00.000Z', overdueCleared: false } },
  ];
};

let seeded = 0;
const seedStarted = performance.now();
await Promise.all(
  Array.from({ length: CONCURRENCY }, async (_, worker) => {
    for (let i = worker; i < TASKS; i += CONCURRENCY) {
      const events = lifeOf(i);
      const at = new Date();
      const taskId = (events[0]!.data as { taskId: string }).taskId;
      await system.eventStore.appendToStream(`task-${taskId}`, events.map((e) => ({ ...e, metadata: metadata(at) })), { expectedVersion: 0 });
      seeded += events.length;
    }
  }),
);
console.log(`seeded ${seeded} events in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`);

const result = await rebuildProjection(system, 'tasks', { batchSize: Number(values.batch) });
const [{ count }] = (await system.knex('tasks').count({ count: '*' })) as [{ count: string }];
console.log(`rebuilt tasks: ${result.events} events in ${result.seconds} s = ${result.eventsPerSecond} events/s (batch ${values.batch}); ${count} task rows`);
// Speed means nothing if events were skipped: every task must be there.
if (result.events < seeded || Number(count) !== TASKS) {
  console.error(`WRONG RESULT: ${result.events} of ${seeded} events read, ${count} of ${TASKS} task rows`);
  process.exitCode = 1;
}

await system.close();
await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
await admin.end();
await server.stop();
