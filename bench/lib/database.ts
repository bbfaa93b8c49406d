import pg from 'pg';

/** The baseline: single-row INSERT … RETURNING as fast as `concurrency` clients can go. */
export const insertLoop = async (url: string, seconds: number, concurrency: number) => {
  const pool = new pg.Pool({ connectionString: url, max: concurrency });
  await pool.query('CREATE TABLE IF NOT EXISTS bench_rows (id bigserial PRIMARY KEY, payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())');
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      while (performance.now() < deadline) {
        const started = performance.now();
        await pool.query('INSERT INTO bench_rows (payload) VALUES ($1) RETURNING id', [JSON.stringify({ title: `row ${i}`, n: latencies.length })]);
        latencies.push(performance.now() - started);
      }
    }),
  );
  await pool.end();
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), requests: latencies.length };
};

export const percentile = (sorted: readonly number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN;

/**
 * Appends `count` TaskCreated events straight into the PostgreSQL log, in big statements, spread
 * over the given owners; the server's projector then builds the read model from them.
 */
export const seedTasks = async (url: string, count: number, owners: readonly string[]) => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const chunk = 10_000;
  for (let start = 0; start < count; start += chunk) {
    await client.query(
      `INSERT INTO events (stream_id, stream_version, event_id, type, data, metadata, occurred_at)
       SELECT 'task-' || s.id, 1, s.event_id, 'TaskCreated',
         jsonb_build_object('taskId', s.id, 'title', 'Seeded task ' || s.g, 'description', 'seeded for the benchmark',
           'status', (ARRAY['PENDING','IN_PROGRESS','COMPLETED'])[1 + s.g % 3],
           'priority', (ARRAY['LOW','MEDIUM','HIGH'])[1 + s.g % 3],
           'dueDate', to_char(now() + (1 + s.g % 90) * interval '1 day', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'userId', ($3::text[])[1 + s.g % array_length($3::text[], 1)]),
         jsonb_build_object('eventId', s.event_id, 'occurredAt', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'actor', 'system', 'correlationId', 'bench-seed', 'causationId', NULL, 'schemaVersion', 1),
         now()
       FROM (SELECT gen_random_uuid() AS id, gen_random_uuid() AS event_id, g FROM generate_series($1::int, $2::int) g) s`,
      [start + 1, Math.min(count, start + chunk), owners],
    );
  }
  await client.end();
};

/** Waits until every live projection has read the whole log. */
export const waitForProjections = async (url: string, timeoutMs = 300_000) => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const { rows } = await client.query(
        `SELECT count(*)::int AS behind FROM projection_checkpoints c
         WHERE c.name IN ('tasks', 'users') AND EXISTS (
           SELECT 1 FROM events e WHERE (e.transaction_id, e.global_position) > (c.tx::text::xid8, c.pos))`,
      );
      if (rows[0].behind === 0) return;
      if (Date.now() > deadline) throw new Error('projections did not catch up');
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await client.end();
  }
};

/**
 * The steady state of a table after a bulk load: statistics for the planner and a visibility map
 * (index-only scans). Autovacuum does the same within a minute or two of the load.
 */
export const settleTables = async (url: string, tables: readonly string[]) => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`VACUUM (ANALYZE) ${tables.map((t) => client.escapeIdentifier(t)).join(', ')}`);
  } finally {
    await client.end();
  }
};
