import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startServerProcess, stopProcess, type ServerProcess } from '../support/process.js';
import { GENEROUS_LIMITS } from './expectations.js';

type Answer = Readonly<{ status: number; body: string; etag: string | null; location: string | null; ms: number }>;
type Keyed = Readonly<{ key: string; method: string; path: string; body?: unknown; headers?: Record<string, string>; expected: number }>;

/** Sends a keyed request; null when the connection died before an answer (the server was killed). */
const send = async (url: string, token: string, request: Keyed): Promise<Answer | null> => {
  const began = performance.now();
  try {
    const res = await fetch(`${url}${request.path}`, {
      method: request.method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': request.key, ...request.headers },
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
    });
    const body = await res.text();
    return { status: res.status, body, etag: res.headers.get('etag'), location: res.headers.get('location'), ms: performance.now() - began };
  } catch {
    return null;
  }
};

/**
 * Many keyed commands race a SIGKILL of the server that runs them; every key is then retried on
 * another instance of the same cluster. Each retry gets the first outcome (rebuilt from the log
 * when the first run's events landed but its response was never kept), and no command ran twice.
 */
describe('Idempotency-Key across a SIGKILL (e2e, real processes)', () => {
  let db: TestDatabase;
  let victim: ServerProcess;
  let survivor: ServerProcess;
  let token: string;
  const run = randomUUID().slice(0, 8);

  beforeAll(async () => {
    db = await createTestDatabase();
    const env = { ...GENEROUS_LIMITS, DATABASE_URL: db.url, JWT_SECRET: 'crash-secret-that-is-long-enough-0123456789' };
    [victim, survivor] = await Promise.all([startServerProcess({ ...env, INSTANCE_ID: 'victim' }), startServerProcess({ ...env, INSTANCE_ID: 'survivor' })]);
    const registered = await fetch(`${survivor.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `crash-${run}@test.example`, name: 'Crash', password: 'long enough password' }),
    });
    token = ((await registered.json()) as { access_token: string }).access_token;
  }, 120_000);

  afterAll(async () => {
    for (const server of [victim, survivor]) if (server) await stopProcess(server.child);
    await db?.drop();
  });

  const createTargets = async (count: number) => {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const res = await fetch(`${survivor.url}/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ title: `target ${i}` }),
      });
      ids.push(((await res.json()) as { id: string }).id);
    }
    return ids;
  };

  /** How many events of a type each value of `column` (an SQL expression) has, in the order of `values`. */
  const countBy = async (type: string, column: string, values: readonly string[]) => {
    const { rows } = await db.knex.raw(`SELECT ${column} AS value, count(*)::int AS n FROM events WHERE type = ? AND ${column} = ANY(?) GROUP BY 1`, [type, [...values]]);
    const counts = new Map((rows as { value: string; n: number }[]).map((r) => [r.value, r.n]));
    return values.map((v) => counts.get(v) ?? 0);
  };

  it('every key answers with its first outcome after the crash, and the log holds each command once', { timeout: 120_000 }, async () => {
    const targets = await createTargets(60);
    const requests: Keyed[] = [
      ...Array.from({ length: 60 }, (_, i) => ({ key: `create-${run}-${i}`, method: 'POST', path: '/tasks', body: { title: `crash ${run} ${i}` }, expected: 201 })),
      ...targets.slice(0, 20).map((id) => ({ key: `delete-${id}`, method: 'DELETE', path: `/tasks/${id}`, expected: 204 })),
      ...targets.slice(20, 40).map((id) => ({ key: `patch-${id}`, method: 'PATCH', path: `/tasks/${id}`, body: { title: `patched ${id}` }, headers: { 'if-match': '"1"' }, expected: 200 })),
      ...[0, 1, 2, 3, 4].map((k) => ({ key: `batch-${run}-${k}`, method: 'POST', path: '/tasks/batch', body: { tasks: targets.slice(40 + 4 * k, 44 + 4 * k), action: 'complete' }, expected: 200 })),
    ];

    // Fire everything at the victim, and SIGKILL it once some answers are back and several other
    // requests hold claims not complete yet (some of them with their events already appended).
    let answered = 0;
    const pending = requests.map(async (r) => {
      const answer = await send(victim.url, token, r);
      if (answer) answered++;
      // A 5xx is not an outcome: it is not kept, and the retry runs the command.
      return answer && answer.status < 500 ? answer : null;
    });
    const inFlight = async () => Number((await db.knex('idempotency_keys').whereNull('status').count<{ count: string }[]>('* as count'))[0]!.count);
    while (answered < requests.length && (answered < 5 || (await inFlight()) < 5)) await new Promise((r) => setTimeout(r, 2));
    await stopProcess(victim.child, 'SIGKILL');
    const firsts = await Promise.all(pending);

    const retries = await Promise.all(requests.map((r) => send(survivor.url, token, r)));

    const outcomes = requests.map((r, i) => ({ request: r, first: firsts[i], retry: retries[i]! }));
    for (const { request, first, retry } of outcomes) {
      expect(retry, request.key).not.toBeNull();
      expect(retry.status, `${request.key}: ${retry.body}`).toBe(first?.status ?? request.expected);
      if (first) expect({ body: retry.body, etag: retry.etag, location: retry.location }, request.key).toEqual({ body: first.body, etag: first.etag, location: first.location });
    }

    // Exactly one command per key in the log.
    const created = await countBy('TaskCreated', "data->>'title'", requests.slice(0, 60).map((r) => (r.body as { title: string }).title));
    expect(created).toEqual(Array(60).fill(1));
    for (const { retry } of outcomes.slice(0, 60))
      expect(await db.knex('events').where({ type: 'TaskCreated', stream_id: `task-${JSON.parse(retry.body).id}` }).count<{ count: string }[]>('* as count')).toEqual([{ count: '1' }]);
    const streams = (ids: string[]) => ids.map((id) => `task-${id}`);
    expect(await countBy('TaskDeleted', 'stream_id', streams(targets.slice(0, 20)))).toEqual(Array(20).fill(1));
    expect(await countBy('TaskDetailsChanged', 'stream_id', streams(targets.slice(20, 40)))).toEqual(Array(20).fill(1));
    expect(await countBy('TaskStatusChanged', 'stream_id', streams(targets.slice(40, 60)))).toEqual(Array(20).fill(1));

    const metrics = await (await fetch(`${survivor.url}/metrics`)).text();
    const rebuilt = [...metrics.matchAll(/taskflow_commands_total\{[^}]*outcome="replayed"[^}]*\} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    const takenOver = await db.knex('idempotency_keys').where('attempts', '>', 1).count<{ count: string }[]>('* as count');
    const lost = firsts.filter((f) => f === null).length;
    const slowest = Math.max(...retries.map((r) => r!.ms));
    console.log(
      `crash run: ${requests.length} keyed requests, ${requests.length - lost} answered before the SIGKILL, ${lost} cut; ` +
        `retries: ${takenOver[0]!.count} claims taken over, ${rebuilt} commands answered from their events in the log, slowest retry ${Math.round(slowest)} ms`,
    );
    expect(lost).toBeGreaterThan(0);
  });
});
