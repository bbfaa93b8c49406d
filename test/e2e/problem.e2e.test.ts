import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KnexTimeoutError } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.js';
import { silentLogger } from '../../src/infra/logger.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

/** What pg, its pool, knex and Node throw when PostgreSQL is away or too slow: each is a 503 to retry. */
const UNAVAILABLE: Record<string, () => Error> = {
  'a refused connection': () => withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
  'every address of a host refused (AggregateError)': () => Object.assign(new AggregateError([withCode('refused', 'ECONNREFUSED')], ''), { code: undefined }),
  'a connection attempt timing out (pg)': () => new Error('Connection terminated due to connection timeout'),
  'no pooled connection in time (pg-pool)': () => new Error('timeout exceeded when trying to connect'),
  'no pooled connection in time (knex)': () => new KnexTimeoutError('Knex: Timeout acquiring a connection. The pool is probably full.'),
  'a query the server stopped answering (pg query_timeout)': () => new Error('Query read timeout'),
  'a statement cut by statement_timeout (57014)': () => withCode('canceling statement due to statement timeout', '57014'),
  'the server shutting down (57P01)': () => withCode('terminating connection due to administrator command', '57P01'),
  'too many connections (53300)': () => withCode('sorry, too many clients already', '53300'),
  'a deadlock (40P01)': () => withCode('deadlock detected', '40P01'),
  'a lost connection (08006)': () => withCode('connection failure', '08006'),
};

describe('problem+json for a dependency that is away (e2e)', () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    const app = createApp({
      logger: silentLogger(),
      publicRoutes: [
        (router) =>
          router.get('/fail/:name', (req) => {
            const make = UNAVAILABLE[req.params.name] ?? (() => withCode('syntax error at or near "SELEC"', '42601'));
            throw make();
          }),
      ],
      authenticate: (_req, _res, next) => next(),
      protectedRoutes: [],
    });
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  for (const name of Object.keys(UNAVAILABLE))
    it(`${name}: 503 DEPENDENCY_UNAVAILABLE with Retry-After`, async () => {
      const res = await fetch(`${base}/fail/${encodeURIComponent(name)}`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await res.json()).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', status: 503 });
    });

  it('any other database error is a 500 that says nothing of it', async () => {
    const res = await fetch(`${base}/fail/other`);
    expect(res.status).toBe(500);
    expect(JSON.stringify(await res.json())).not.toMatch(/SELEC|syntax/);
  });
});
