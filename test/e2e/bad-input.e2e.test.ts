import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/http/validation.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { expectProblem, GENEROUS_LIMITS } from './expectations.js';

/** `depth` levels of arrays, objects, or both in turn, around a number: as raw JSON text. */
const nested = (depth: number, shape: 'array' | 'object' | 'mixed') => {
  const open = (i: number) => (shape === 'array' || (shape === 'mixed' && i % 2) ? '[' : '{"a":');
  const close = (i: number) => (shape === 'array' || (shape === 'mixed' && i % 2) ? ']' : '}');
  const levels = Array.from({ length: depth }, (_, i) => i);
  return `${levels.map(open).join('')}1${levels.reverse().map(close).join('')}`;
};

/** Every operation that takes a JSON body; the auth ones answer before sign-in. */
const OPERATIONS = (taskId: string, userId: string) => [
  ['POST', '/auth/register'],
  ['POST', '/auth/login'],
  ['POST', '/auth/refresh'],
  ['POST', '/auth/logout'],
  ['POST', '/tasks'],
  ['PATCH', `/tasks/${taskId}`],
  ['POST', '/tasks/batch'],
  ['PATCH', `/users/${userId}`],
] as const;

describe('bad input (e2e)', () => {
  let app: TestApp;
  let admin: { token: string; userId: string };
  let taskId: string;

  const eventCount = async () => Number((await app.db.knex('events').count<{ count: string }[]>('* as count'))[0]!.count);

  beforeAll(async () => {
    app = await startTestApp(GENEROUS_LIMITS);
    admin = await app.admin();
    taskId = (await app.call('POST', '/tasks', { token: admin.token, body: { title: 'Target' } })).body.id;
  });
  afterAll(() => app?.close());

  describe('JSON nested deeper than any body TaskFlow takes', () => {
    // ~2,000 levels in 12 kB made each of these a 500 (stack overflow in a recursive walk).
    for (const [depth, shape] of [
      [2000, 'object'],
      [2000, 'array'],
      [15_000, 'mixed'],
      [45_000, 'array'],
      [MAX_JSON_DEPTH + 1, 'object'],
    ] as const)
      it(`${depth} levels (${shape}): 400 JSON_TOO_DEEP on every operation with a body, signed in or not, and nothing appended`, async () => {
        const before = await eventCount();
        const rawBody = nested(depth, shape);
        expect(rawBody.length).toBeLessThan(100_000);
        for (const [method, path] of OPERATIONS(taskId, admin.userId))
          for (const headers of [{}, { 'idempotency-key': randomUUID() }] as Record<string, string>[])
            for (const token of [admin.token, undefined]) {
              const res = await app.call(method, path, { token, rawBody, headers: { 'content-type': 'application/json', ...headers } });
              expectProblem(res, 400, 'JSON_TOO_DEEP');
            }
        expect(await eventCount()).toBe(before);
      });

    it(`${MAX_JSON_DEPTH} levels are not refused for their depth (but for their content)`, async () => {
      const rawBody = `{"title":"x","extra":${nested(MAX_JSON_DEPTH - 1, 'mixed')}}`;
      const res = await app.call('POST', '/tasks', { token: admin.token, rawBody, headers: { 'content-type': 'application/json' } });
      expectProblem(res, 400, 'VALIDATION_FAILED');
    });

    it('odd shapes get a 4xx and append nothing: wide arrays, many keys, prototype keys, duplicate keys, a bare value', async () => {
      const before = await eventCount();
      const bodies = [
        JSON.stringify({ tasks: Array.from({ length: 2500 }, () => randomUUID()), action: 'complete' }),
        JSON.stringify(Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]))),
        '{"__proto__":{"title":"x"},"constructor":{"prototype":{}}}',
        '{"title":"x","title":{"nested":true}}',
        '"just a string"',
        '[{"title":"x"}]',
        `{"title":"${'x'.repeat(90_000)}"}`,
      ];
      for (const rawBody of bodies)
        for (const [method, path] of OPERATIONS(taskId, admin.userId)) {
          const res = await app.call(method, path, { token: admin.token, rawBody, headers: { 'content-type': 'application/json' } });
          expect(res.status, `${method} ${path} ${rawBody.slice(0, 60)}: ${JSON.stringify(res.body).slice(0, 200)}`).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
        }
      expect(await eventCount()).toBe(before);
    });
  });

  describe('any well-formed UUID is an id: unknown ones are not found, not malformed', () => {
    const IDS = [
      '00000000-0000-0000-0000-000000000000',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
      'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
      // version 0 and version 15; variant bits 0xxx and 111x
      '12345678-1234-0234-1234-123456789abc',
      '12345678-1234-f234-e234-123456789abc',
    ];

    it('path ids: 404 for reads, changes, deletes, history and users', async () => {
      for (const id of IDS) {
        expectProblem(await app.call('GET', `/tasks/${id}`, { token: admin.token }), 404, 'TASK_NOT_FOUND');
        expectProblem(await app.call('GET', `/tasks/${id}?version=1`, { token: admin.token }), 404);
        expectProblem(await app.call('GET', `/tasks/${id}/history`, { token: admin.token }), 404);
        expectProblem(await app.call('PATCH', `/tasks/${id}`, { token: admin.token, body: { title: 'x' } }), 404, 'TASK_NOT_FOUND');
        expectProblem(await app.call('DELETE', `/tasks/${id}`, { token: admin.token }), 404, 'TASK_NOT_FOUND');
        expectProblem(await app.call('PATCH', `/users/${id}`, { token: admin.token, body: { role: 'user' } }), 404, 'USER_NOT_FOUND');
      }
    });

    it('query and body ids: an empty list, a failed batch item, an owner that does not exist', async () => {
      for (const id of IDS) {
        const listed = await app.call('GET', `/tasks?userId=${id}`, { token: admin.token });
        expect(listed.status).toBe(200);
        expect(listed.body.data).toEqual([]);
        const batch = await app.call('POST', '/tasks/batch', { token: admin.token, body: { tasks: [id], action: 'complete' } });
        expect(batch.status).toBe(200);
        expect(batch.body.results).toEqual([{ taskId: id.toLowerCase(), success: false, error: 'Task not found', code: 'TASK_NOT_FOUND' }]);
        // The same answer as for any unknown user: the field is named, and the id is not called malformed.
        const owned = await app.call('POST', '/tasks', { token: admin.token, body: { title: 'x', userId: id } });
        expectProblem(owned, 400);
        expect(owned.body.errors).toEqual([{ field: 'userId', message: 'userId does not name an existing user' }]);
      }
    });

    it('what is not a UUID is still a 400', async () => {
      for (const id of ['00000000-0000-0000-0000-00000000000', '0000000000000000000000000000000000000', 'g0000000-0000-0000-0000-000000000000', '{00000000-0000-0000-0000-000000000000}'])
        expectProblem(await app.call('GET', `/tasks/${encodeURIComponent(id)}`, { token: admin.token }), 400);
    });
  });
});
