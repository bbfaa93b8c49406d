// npm run bench [-- --quick] [-- --redis]: TaskFlow against baselines measured in the same run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { insertLoop, percentile, seedTasks, settleTables, waitForProjections } from './lib/database.js';
import { cpuMeter } from './lib/cpu.js';
import { load, openLoop, type LoadResult } from './lib/load.js';
import { buildServer, ROOT, startHello, startTaskFlow } from './lib/processes.js';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const withRedis = args.has('--redis');
const SECONDS = quick ? 4 : 10;
const CONNECTIONS = 50;
const SEEDED = 100_000;

const results: Record<string, unknown> = {};
const rows: [string, string, string, string, string, string, string][] = [];
const fmt = (n: number | undefined, digits = 0) => (n !== undefined && Number.isFinite(n) ? n.toFixed(digits) : '-');
type Measured = { rps: number; p50: number; p99: number; serverUs?: number; postgresUs?: number };
const record = (name: string, r: Measured, note = '') => {
  results[name] = r;
  rows.push([name, fmt(r.rps), fmt(r.p50, 1), fmt(r.p99, 1), fmt(r.serverUs), fmt(r.postgresUs), note]);
  const cpu = r.serverUs !== undefined || r.postgresUs !== undefined ? `, CPU/req: server ${fmt(r.serverUs)} µs, PostgreSQL ${fmt(r.postgresUs)} µs` : '';
  console.log(`  ${name}: ${fmt(r.rps)} req/s, p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms${cpu} ${note}`);
};
const check = (r: LoadResult, what: string) => {
  if (r.errors || r.non2xx) console.warn(`  ! ${what}: ${r.errors} errors, ${r.non2xx} non-2xx of ${r.requests}`);
  return r;
};
const json = async (url: string, init: RequestInit & { token?: string } = {}) => {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) } });
  return (await res.json()) as any;
};

const main = async () => {
  const started = Date.now();
  console.log(`TaskFlow benchmark (${quick ? 'quick' : 'full'}, ${withRedis ? 'with Redis' : 'embedded default'}) on ${os.cpus().length} cores, Node ${process.version}`);
  // The server and the CLI run compiled, as `npm start` runs them: build the current sources first.
  buildServer();

  console.log('baselines');
  for (const kind of ['node', 'express'] as const) {
    const hello = await startHello(kind);
    await load({ url: hello.url, seconds: 1, connections: CONNECTIONS });
    const metered = cpuMeter(hello.child.pid ?? null, null);
    record(`${kind} hello-world`, check(await metered(() => load({ url: hello.url, seconds: SECONDS, connections: CONNECTIONS })), kind));
    await hello.stop();
  }

  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskflow-bench-'));
  const env = {
    TASKFLOW_DATA_DIR: dataDir,
    RATE_LIMIT_PER_MINUTE: '1000000000',
    AUTH_RATE_LIMIT_PER_MINUTE: '1000000000',
    READ_YOUR_WRITES_TIMEOUT_MS: '10000',
    DATABASE_URL: undefined,
    REDIS_URL: withRedis ? (process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') : undefined,
    EVENTSTORE_URL: undefined,
    OTEL_EXPORTER_OTLP_ENDPOINT: undefined,
  };
  const server = await startTaskFlow(env);
  const { url: dbUrl, postgresPid } = JSON.parse(readFileSync(path.join(dataDir, 'postgres.json'), 'utf8')) as { url: string; postgresPid: number | null };
  // What each request costs the server process and PostgreSQL (the postmaster and its backends).
  const metered = cpuMeter(server.child.pid ?? null, postgresPid);
  try {
    record('INSERT … RETURNING loop', await cpuMeter(null, postgresPid)(() => insertLoop(dbUrl, SECONDS, CONNECTIONS)), `(${CONNECTIONS} clients, same PostgreSQL)`);

    const admin = await json(`${server.url}/auth/login`, { method: 'POST', body: JSON.stringify({ email: 'admin@example.com', password: 'admin123' }) });
    const user = await json(`${server.url}/auth/login`, { method: 'POST', body: JSON.stringify({ email: 'user@example.com', password: 'user123' }) });
    const auth = (session: { access_token: string }) => ({ authorization: `Bearer ${session.access_token}` });

    console.log('commands');
    const postTask = { url: `${server.url}/tasks`, method: 'POST' as const, headers: auth(user), body: JSON.stringify({ title: 'benchmark task', priority: 'HIGH' }) };
    await load({ ...postTask, seconds: 1, connections: CONNECTIONS });
    const peak = check(await metered(() => load({ ...postTask, seconds: SECONDS, connections: CONNECTIONS })), 'POST /tasks');
    record('POST /tasks (peak)', peak);
    // Fixed rates are sent open loop (evenly spaced, latency from when each request was due).
    const at70 = check(await metered(() => openLoop({ ...postTask, seconds: SECONDS, connections: CONNECTIONS, rate: Math.round(peak.rps * 0.7) })), 'POST 70%');
    record('POST /tasks at 70% of peak', at70);

    await waitForProjections(dbUrl);
    const db = new pg.Client({ connectionString: dbUrl });
    await db.connect();
    const ids: string[] = (await db.query(`SELECT id FROM tasks WHERE user_id = $1 LIMIT 2000`, [user.user.id])).rows.map((r) => r.id);
    let n = 0;
    const patch = check(
      await metered(() => load({
        url: `${server.url}/tasks/${ids[0]}`,
        method: 'PATCH',
        headers: auth(user),
        body: '{}',
        seconds: SECONDS,
        connections: CONNECTIONS,
        setupRequest: (req) => ({ ...req, path: `/tasks/${ids[n++ % ids.length]}`, body: JSON.stringify({ title: `patched ${n}` }) }),
      })),
      'PATCH',
    );
    record('PATCH /tasks/:id', patch);

    console.log('projection lag at 50% of the peak command rate');
    // From a settled system: the PATCH run's backlog (projection, autovacuum) is not this run's lag.
    await waitForProjections(dbUrl);
    await new Promise((r) => setTimeout(r, 2000));
    const pending = new Map<string, number>();
    const lags: number[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling || pending.size) {
        if (pending.size) {
          const seen = await db.query('SELECT id FROM tasks WHERE id = ANY($1::uuid[])', [[...pending.keys()]]);
          const now = performance.now();
          for (const { id } of seen.rows) {
            lags.push(now - pending.get(id)!);
            pending.delete(id);
          }
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const lagLoad = check(
      await openLoop({
        ...postTask,
        seconds: SECONDS,
        connections: CONNECTIONS,
        rate: Math.round(peak.rps * 0.5),
        onResponse: (status, body) => {
          if (status === 201) pending.set(JSON.parse(body).id, performance.now());
        },
      }),
      'lag load',
    );
    polling = false;
    await poller;
    lags.sort((a, b) => a - b);
    const lag = { rps: lagLoad.rps, p50: percentile(lags, 50), p99: percentile(lags, 99), samples: lags.length };
    results['projection lag at 50% of peak'] = lag;
    rows.push(['projection lag at 50% of peak', fmt(lag.rps), fmt(lag.p50, 1), fmt(lag.p99, 1), '', '', `(${lags.length} commands; 2 ms poll)`]);
    console.log(`  lag p50 ${fmt(lag.p50, 1)} ms, p99 ${fmt(lag.p99, 1)} ms over ${lags.length} commands`);

    console.log(`queries over ${SEEDED.toLocaleString('en')} seeded tasks`);
    const seedStarted = performance.now();
    await seedTasks(dbUrl, SEEDED, [user.user.id, admin.user.id, ...Array.from({ length: 18 }, () => crypto.randomUUID())]);
    await waitForProjections(dbUrl);
    const catchUp = SEEDED / ((performance.now() - seedStarted) / 1000);
    results['live projection catch-up events/s'] = catchUp;
    console.log(`  seeded and projected at ${fmt(catchUp)} events/s`);
    await settleTables(dbUrl, ['events', 'tasks', 'task_stats']);

    await new Promise((r) => setTimeout(r, 2500)); // the writer's own cache bypass ends
    const one = ids[0]!;
    const getOne = { url: `${server.url}/tasks/${one}`, headers: auth(user), connections: CONNECTIONS };
    await load({ ...getOne, seconds: 1 });
    record('GET /tasks/:id (cache warm)', check(await metered(() => load({ ...getOne, seconds: SECONDS })), 'GET one'));
    const list = { url: `${server.url}/tasks?status=PENDING&page=3&limit=20`, headers: auth(admin), connections: CONNECTIONS };
    await load({ ...list, seconds: 1 });
    record('GET /tasks list (cache warm)', check(await metered(() => load({ ...list, seconds: SECONDS })), 'list warm'));
    let page = 0;
    record(
      'GET /tasks list (distinct pages)',
      check(
        await metered(() =>
          load({
            ...list,
            seconds: SECONDS,
            setupRequest: (req) => ({ ...req, path: `/tasks?status=PENDING&sortBy=dueDate&page=${1 + (page++ % 1500)}&limit=20` }),
          }),
        ),
        'list pages',
      ),
      '(mostly cache misses)',
    );
    await db.end();

    console.log('rebuild');
    const rebuild = runRebuild(dataDir);
    if (rebuild) {
      results['rebuild tasks'] = rebuild;
      rows.push(['rebuild tasks (events/s)', fmt(rebuild.eventsPerSecond), '', '', '', '', `(${rebuild.events} events)`]);
    }
  } finally {
    results['server peak RSS MB'] = server.peakRssMb();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }

  console.log('observability overhead (request logs + metrics + tracing exported over OTLP)');
  const overhead = await measureObservabilityOverhead();
  results['observability overhead'] = overhead;
  for (const [name, v] of Object.entries(overhead))
    rows.push([`observability ${name}`, fmt(v.on), '', '', '', '', `(off: ${fmt(v.off)} req/s; on/off ${fmt(v.on / v.off, 3)})`]);

  const r = (k: string) => results[k] as { rps: number; p99: number };
  const goals = [
    ['cached GET ≥ 60% of express hello-world', r('GET /tasks/:id (cache warm)').rps / r('express hello-world').rps, 0.6],
    ['POST /tasks ≥ 50% of INSERT loop', r('POST /tasks (peak)').rps / r('INSERT … RETURNING loop').rps, 0.5],
    ['POST p99 at 70% of peak ≤ 25 ms', r('POST /tasks at 70% of peak').p99, 25],
    ['projection lag p99 at 50% of peak ≤ 50 ms', r('projection lag at 50% of peak').p99, 50],
    ['rebuild ≥ 50,000 events/s', (results['rebuild tasks'] as { eventsPerSecond?: number } | undefined)?.eventsPerSecond ?? NaN, 50_000],
    ['server peak RSS ≤ 200 MB', results['server peak RSS MB'] as number, 200],
  ] as const;
  const goalRows = goals.map(([name, value, target]) => {
    const ratio = name.includes('≥');
    const met = ratio ? value >= target : value <= target;
    return { goal: name, value: ratio && value < 10 ? Number(value.toFixed(3)) : Number(value.toFixed(1)), met: Number.isFinite(value) ? met : null };
  });
  results.goals = goalRows;

  console.log('\n| scenario | req/s | p50 ms | p99 ms | server CPU µs/req | PostgreSQL CPU µs/req | note |\n|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  console.log(`\nserver peak RSS: ${fmt(results['server peak RSS MB'] as number, 1)} MB\n\n| goal | measured | met |\n|---|---|---|`);
  for (const g of goalRows) console.log(`| ${g.goal} | ${g.value} | ${g.met === null ? 'not measured' : g.met ? 'yes' : 'no'} |`);

  const out = {
    date: new Date().toISOString(),
    mode: withRedis ? 'redis' : 'embedded',
    quick,
    machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    seconds: SECONDS,
    connections: CONNECTIONS,
    durationSeconds: Math.round((Date.now() - started) / 1000),
    results,
  };
  writeFileSync(path.join(ROOT, 'bench/results/latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  writeFileSync(path.join(ROOT, `bench/results/${out.mode}${quick ? '-quick' : ''}.json`), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`\nwrote bench/results/latest.json (${out.durationSeconds} s)`);
};

/** The same two requests against an instance with request logs, metrics and tracing off, then on. */
const measureObservabilityOverhead = async () => {
  // An OTLP sink that accepts every export, so tracing does its full work.
  const sink = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as { port: number }).port}`;
  const measured: Record<'GET /tasks/:id' | 'POST /tasks', { off: number; on: number }> = {
    'GET /tasks/:id': { off: NaN, on: NaN },
    'POST /tasks': { off: NaN, on: NaN },
  };
  for (const mode of ['off', 'on'] as const) {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskflow-bench-'));
    const server = await startTaskFlow({
      TASKFLOW_DATA_DIR: dataDir,
      RATE_LIMIT_PER_MINUTE: '1000000000',
      DATABASE_URL: undefined,
      REDIS_URL: undefined,
      REQUEST_OBSERVABILITY: mode,
      LOG_LEVEL: mode === 'on' ? 'info' : 'warn',
      OTEL_EXPORTER_OTLP_ENDPOINT: mode === 'on' ? sinkUrl : undefined,
    });
    try {
      const user = await json(`${server.url}/auth/login`, { method: 'POST', body: JSON.stringify({ email: 'user@example.com', password: 'user123' }) });
      const headers = { authorization: `Bearer ${user.access_token}` };
      const task = await json(`${server.url}/tasks`, { method: 'POST', token: user.access_token, body: JSON.stringify({ title: 'overhead' }) });
      await new Promise((r) => setTimeout(r, 2500));
      const get = { url: `${server.url}/tasks/${task.id}`, headers, connections: CONNECTIONS };
      await load({ ...get, seconds: 1 });
      measured['GET /tasks/:id'][mode] = check(await load({ ...get, seconds: SECONDS }), `GET ${mode}`).rps;
      const post = { url: `${server.url}/tasks`, method: 'POST' as const, headers, body: JSON.stringify({ title: 'overhead' }), connections: CONNECTIONS };
      measured['POST /tasks'][mode] = check(await load({ ...post, seconds: SECONDS }), `POST ${mode}`).rps;
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  sink.close();
  for (const [name, v] of Object.entries(measured)) console.log(`  ${name}: off ${fmt(v.off)} req/s, on ${fmt(v.on)} req/s (on/off ${fmt(v.on / v.off, 3)})`);
  return measured;
};

/** Rebuilds the tasks projection of the running server's database with the CLI; null if unavailable. */
const runRebuild = (dataDir: string): { events: number; eventsPerSecond: number } | null => {
  try {
    const output = execFileSync(process.execPath, ['dist/cli/index.js', 'projections', 'rebuild', 'tasks', '--json'], {
      cwd: ROOT,
      env: { ...process.env, TASKFLOW_DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: withRedis ? (process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') : '' },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    const last = output.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>).at(-1)!;
    return { events: last.events ?? last.done ?? NaN, eventsPerSecond: last.eventsPerSecond ?? NaN };
  } catch (error) {
    console.warn(`  rebuild not measured: ${(error as Error).message.split('\n')[0]}`);
    return null;
  }
};

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
