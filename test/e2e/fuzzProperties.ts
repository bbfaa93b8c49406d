import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { ApiResponse, TestApp } from '../support/app.js';
import type { FuzzRequest } from './fuzzValues.js';

// The properties of the fuzz run (fuzz.e2e.test.ts), checked on each request:
// - no 5xx;
// - every response conforms to the OpenAPI document (test/support/app.ts checks each one);
// - a rejected (4xx) request appends no event (requests run one at a time, so the count of
//   events before and after belongs to that request alone);
// - an accepted write can be read back: the writer's next reads succeed (read-your-writes),
//   which catches an event that the projections cannot apply.

let requests = 0;
let rejected = 0;
const statuses = new Map<number, number>();

/** One line on what the run did, for the log. */
export const fuzzReport = () =>
  `${requests} requests (${rejected} rejected with 4xx); statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([x], [y]) => x - y)))}`;

/** Stands for a fresh value at each send, so a shrunk retry of a registration is not a duplicate (409). */
export const UNIQUE = '{{unique}}';
const freshen = (value: unknown): unknown =>
  typeof value === 'string'
    ? value.replaceAll(UNIQUE, randomUUID().slice(0, 8))
    : Array.isArray(value)
      ? value.map(freshen)
      : value !== null && typeof value === 'object'
        ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, freshen(v)]))
        : value;

/** The properties, checked on one service; throws (so fast-check shrinks) on a breach. */
export const checker = (target: TestApp) => {
  /**
   * The first request whose events may have left a projection stuck. Once there is one, later
   * reads failing for that reason are its fault, not theirs: they do not fail again, so the
   * shrinker keeps the request that did it.
   */
  let culprit: string | null = null;
  // Events of the system's own (the overdue check) are not the request's doing.
  const eventCount = async () =>
    Number((await target.db.knex.raw("SELECT count(*)::int AS n FROM events WHERE metadata->>'actor' IS DISTINCT FROM 'system'")).rows[0].n);

  /** What /health says went wrong in the projections, if anything. */
  const projectionErrors = async () => {
    const health = await target.call('GET', '/health');
    return Object.entries((health.body?.projections ?? {}) as Record<string, { lastError?: string | null }>)
      .filter(([, p]) => p.lastError)
      .map(([name, p]) => `${name}: ${p.lastError!.split('\n').pop()}`)
      .join('; ');
  };

  /** After an accepted write, the writer reads it back through each read model. */
  const readBack = async (req: FuzzRequest, token: string | undefined) => {
    if (!token || culprit) return;
    for (const path of ['/tasks/stats', '/users/me', '/notifications']) {
      const read = await target.call('GET', path, { token });
      if (read.status >= 500) {
        culprit = String(req[fc.toStringMethod]());
        throw new Error(`accepted, but the writer's next GET ${path} is ${read.status}; projections: ${await projectionErrors()}`);
      }
    }
  };

  const check = async (req: FuzzRequest) => {
    const before = await eventCount();
    const options = { ...req.options, body: freshen(req.options.body), rawBody: freshen(req.options.rawBody) as string | undefined };
    let res: ApiResponse;
    try {
      res = await target.call(req.method, req.url, options);
    } catch (error) {
      // Not conforming to the document; if it was a write that went through, it may also be the culprit.
      if (!culprit && (await eventCount()) > before) culprit = String(req[fc.toStringMethod]());
      throw error;
    }
    requests++;
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    if (res.status >= 500) {
      const stuck = culprit && (res.body as { code?: string } | null)?.code === 'READ_MODEL_BEHIND';
      throw new Error(`${res.status} ${JSON.stringify(res.body).slice(0, 200)}${stuck ? ` (a projection is stuck since ${culprit})` : ''}`);
    }
    const after = await eventCount();
    if (res.status >= 400) {
      rejected++;
      if (after !== before) throw new Error(`${res.status} but ${after - before} event(s) appended`);
    } else if (after > before) await readBack(req, req.options.token ?? (res.body as { access_token?: string } | null)?.access_token);
  };

  /** Whether an accepted request has left a projection stuck, so this service is of no more use. */
  const stuck = () => culprit !== null;
  return { check, stuck };
};
