import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/http/openapi.js';
import { startTestApp, type CallOptions, type TestApp } from '../support/app.js';
import { expectProblem, GENEROUS_LIMITS } from './expectations.js';

type Operation = { security?: unknown[]; responses: Record<string, unknown>; requestBody?: unknown };
type Layer = { rawPath?: unknown; route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] } };

let app: TestApp;

const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'] as const;
/** The documentation's own routes are not part of the API it documents. */
const DOC_ROUTES = new Set(['GET /api', 'GET /api/openapi.json']);

const documentedOperations = () =>
  Object.entries(openApiDocument.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m] !== undefined).map((method) => ({ method: method.toUpperCase(), path, operation: item[method] as Operation })),
  );

/** Every method and path express would answer, read from its router (`:id` written as `{id}`). */
const servedRoutes = (): string[] => {
  const found: string[] = [];
  const walk = (stack: readonly Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        const path = `${prefix}${layer.route.path}`.replace(/:(\w+)/g, '{$1}');
        for (const method of Object.keys(layer.route.methods)) found.push(`${method.toUpperCase()} ${path}`);
      } else if (layer.handle?.stack) {
        const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
        walk(layer.handle.stack, `${prefix}${mount}`);
      }
    }
  };
  walk((app.system.app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return found;
};

describe('API documentation (e2e)', () => {
  let admin: { token: string; userId: string };
  let user: Awaited<ReturnType<TestApp['newUser']>>;

  const newTask = async (title: string) => {
    const res = await app.call('POST', '/tasks', { token: user.token, body: { title } });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };

  /** A request that should succeed, for each operation of the API's core; each builds what it needs. */
  const examples: Record<string, () => Promise<{ url: string; options: CallOptions }>> = {
    'POST /auth/register': async () => ({
      url: '/auth/register',
      options: { body: { email: `docs-${randomUUID().slice(0, 8)}@test.example`, name: 'Docs', password: 'long enough' } },
    }),
    'POST /auth/login': async () => ({ url: '/auth/login', options: { body: { email: user.email, password: user.password } } }),
    'POST /auth/refresh': async () => ({ url: '/auth/refresh', options: { body: { refresh_token: (await app.newUser()).refreshToken } } }),
    'POST /auth/logout': async () => ({ url: '/auth/logout', options: { body: { refresh_token: (await app.newUser()).refreshToken } } }),
    'GET /tasks': async () => ({ url: '/tasks?status=PENDING&sortBy=title&sortOrder=asc&page=1&limit=5', options: { token: user.token } }),
    'POST /tasks': async () => ({ url: '/tasks', options: { token: user.token, body: { title: 'Documented', priority: 'HIGH' } } }),
    'GET /tasks/stats': async () => ({ url: '/tasks/stats', options: { token: user.token } }),
    'POST /tasks/batch': async () => ({
      url: '/tasks/batch',
      options: { token: user.token, body: { tasks: [await newTask('Batch me'), randomUUID()], action: 'complete' } },
    }),
    'GET /tasks/{id}': async () => ({ url: `/tasks/${await newTask('Read me')}?version=1`, options: { token: user.token } }),
    'PATCH /tasks/{id}': async () => ({ url: `/tasks/${await newTask('Change me')}`, options: { token: user.token, body: { status: 'IN_PROGRESS' } } }),
    'DELETE /tasks/{id}': async () => ({ url: `/tasks/${await newTask('Delete me')}`, options: { token: user.token } }),
    'GET /tasks/{id}/history': async () => ({ url: `/tasks/${await newTask('History')}/history`, options: { token: user.token } }),
    'GET /notifications': async () => ({ url: '/notifications?limit=5', options: { token: user.token } }),
    'GET /users/me': async () => ({ url: '/users/me', options: { token: user.token } }),
    'GET /users': async () => ({ url: '/users?page=1&limit=5', options: { token: admin.token } }),
    'PATCH /users/{id}': async () => ({ url: `/users/${(await app.newUser()).userId}`, options: { token: admin.token, body: { role: 'admin' } } }),
    'GET /health/live': async () => ({ url: '/health/live', options: {} }),
    'GET /health/ready': async () => ({ url: '/health/ready', options: {} }),
    'GET /health': async () => ({ url: '/health', options: {} }),
  };

  beforeAll(async () => {
    app = await startTestApp(GENEROUS_LIMITS);
    admin = await app.admin();
    user = await app.newUser('Reader of docs');
  });
  afterAll(() => app?.close());

  describe('GET /api/openapi.json', () => {
    it('is an OpenAPI 3.1 document, served as JSON, equal to the one in the code', async () => {
      const res = await app.call('GET', '/api/openapi.json');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.body.openapi).toBe('3.1.0');
      expect(res.body.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
      expect(res.body).toEqual(JSON.parse(JSON.stringify(openApiDocument)));
    });

    it('needs no token', async () => {
      expect((await app.call('GET', '/api/openapi.json', { headers: { authorization: 'Bearer garbage' } })).status).toBe(200);
    });

    it('every $ref in it resolves', () => {
      const text = JSON.stringify(openApiDocument);
      const refs = [...text.matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1]!);
      expect(refs.length).toBeGreaterThan(0);
      for (const ref of refs) {
        const target = ref.split('/').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], openApiDocument);
        expect(target, ref).toBeDefined();
      }
    });
  });

  describe('the document and the routes agree', () => {
    it('every route express serves is documented', () => {
      const served = servedRoutes().filter((r) => !DOC_ROUTES.has(r));
      const documented = new Set(documentedOperations().map((o) => `${o.method} ${o.path}`));
      expect(served).toContain('GET /tasks/{id}');
      expect(served.filter((r) => !documented.has(r))).toEqual([]);
    });

    it('every documented operation is served (not the 404 of an unknown route)', () => {
      const served = new Set(servedRoutes());
      const missing = documentedOperations()
        .map((o) => `${o.method} ${o.path}`)
        .filter((o) => !served.has(o));
      expect(missing).toEqual([]);
    });

    it('the examples below are all of documented operations', () => {
      const documented = documentedOperations().map((o) => `${o.method} ${o.path}`);
      expect(Object.keys(examples).filter((e) => !documented.includes(e))).toEqual([]);
    });

    // The harness validates each response against the document: its status must be listed for
    // the operation, and its body must match the schema of that status and media type.
    /** An operation without an example here gets a plain admin request, with a random id. */
    const requestFor = async (method: string, path: string) =>
      (await examples[`${method} ${path}`]?.()) ?? { url: path.replace(/\{[^}]+\}/g, randomUUID()), options: { token: admin.token } };

    for (const { method, path, operation } of documentedOperations()) {
      const example = examples[`${method} ${path}`];
      if (example)
        it(`${method} ${path}: a real request gets a documented 2xx`, async () => {
          const { url, options } = await example();
          const res = await app.call(method, url, options);
          expect(res.status, JSON.stringify(res.body)).toBeGreaterThanOrEqual(200);
          expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
          expect(Object.keys(operation.responses)).toContain(String(res.status));
        });
      else
        it(`${method} ${path}: a plain request gets a documented answer from its route`, async () => {
          const { url, options } = await requestFor(method, path);
          const res = await app.call(method, url, options);
          expect(res.status, JSON.stringify(res.body)).toBeLessThan(500);
          expect(res.body?.code, 'answered by the catch-all 404, not by a route').not.toBe('ROUTE_NOT_FOUND');
        });

      if (operation.security)
        it(`${method} ${path}: without a token, a documented 401`, async () => {
          const { url, options } = await requestFor(method, path);
          const res = await app.call(method, url, { ...options, token: undefined });
          expectProblem(res, 401);
          expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        });
      else
        it(`${method} ${path}: public, answers without a token`, async () => {
          const { url, options } = await requestFor(method, path);
          expect((await app.call(method, url, { ...options, token: undefined })).status).not.toBe(401);
        });
    }

    it('an undocumented path is a 404 problem', async () => {
      expectProblem(await app.call('GET', '/tasks/archive/2020', { token: user.token }), 404);
      expectProblem(await app.call('PUT', '/tasks', { token: user.token, body: { title: 'x' } }), 404);
    });
  });

  describe('Swagger UI', () => {
    for (const path of ['/api', '/api/'])
      it(`GET ${path} serves the Swagger UI page`, async () => {
        const res = await fetch(`${app.baseUrl}${path}`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/html/);
        const html = await res.text();
        expect(html).toMatch(/swagger-ui/i);
        expect(html).toContain('TaskFlow API');
      });

    it('points the UI at /api/openapi.json, and serves its assets', async () => {
      const init = await fetch(`${app.baseUrl}/api/swagger-ui-init.js`);
      expect(init.status).toBe(200);
      expect(await init.text()).toContain('/api/openapi.json');
      const bundle = await fetch(`${app.baseUrl}/api/swagger-ui-bundle.js`);
      expect(bundle.status).toBe(200);
      expect(bundle.headers.get('content-type')).toMatch(/javascript/);
    });
  });
});
