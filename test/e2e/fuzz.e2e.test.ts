import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/http/openapi.js';
import { startTestApp, type CallOptions, type TestApp } from '../support/app.js';
import { GENEROUS_LIMITS } from './expectations.js';
import { checker, fuzzReport, UNIQUE } from './fuzzProperties.js';
import {
  CONTENT_TYPES,
  dateText,
  deepJson,
  EDGE_UUIDS,
  extraHeaders,
  FuzzRequest,
  intText,
  oddJson,
  oneOf,
  RAW_BODIES,
  RAW_IDS,
  RAW_QUERY_PARTS,
  text,
  urlEncode,
  weird,
} from './fuzzValues.js';

// Generated requests to every documented operation (and to any path), each checked for the
// properties in fuzzProperties.ts. FUZZ_SEED=<n> replays a run; FUZZ_RUNS=<n> changes the runs
// per operation.

const RUNS_PER_OPERATION = Number(process.env.FUZZ_RUNS ?? 170);
const RUNS_ANY_ROUTE = 300;
/** Node itself answers 431 to request heads over 16 KB, before the service sees them; stay under. */
const MAX_URL_PART = 6000;
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const FUZZ_ENV = {
  ...GENEROUS_LIMITS,
  // A short read-your-writes wait, so a stuck projection shows as a 503 quickly.
  READ_YOUR_WRITES_TIMEOUT_MS: '1500',
  // The overdue check appends events of its own; keep it out of the way (once a year).
  OVERDUE_CHECK_CRON: '0 0 1 1 *',
};

type Operation = { requestBody?: { content: Record<string, { schema: { $ref?: string } }> }; parameters?: { name: string; in: string }[] };
type Body = Pick<CallOptions, 'body' | 'rawBody'> & { headers?: Record<string, string> };

const METHODS = ['get', 'post', 'patch', 'delete'] as const;
const operations = Object.entries(openApiDocument.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
  METHODS.filter((m) => item[m] !== undefined).map((m) => ({ method: m.toUpperCase(), path, operation: item[m] as Operation })),
);

/** The property names of an operation's request body schema. */
const bodyFields = (operation: Operation): string[] => {
  const ref = operation.requestBody?.content['application/json']?.schema.$ref;
  if (!ref) return [];
  const schema = (openApiDocument.components.schemas as Record<string, { properties?: Record<string, unknown> }>)[ref.split('/').pop()!];
  return Object.keys(schema?.properties ?? {});
};
const queryNames = (operation: Operation) => (operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
const ALL_QUERY_NAMES = [...new Set(operations.flatMap((o) => queryNames(o.operation)))];

afterAll(() => {
  console.log(`fuzz: ${fuzzReport()}; seed ${SEED}`);
});

describe('fuzz: every endpoint, generated requests (e2e)', () => {
  let app: TestApp | undefined;
  let checks: ReturnType<typeof checker>;
  let user: { token: string; userId: string; email: string; password: string; refreshToken: string };
  let admin: { token: string; userId: string };
  let taskIds: string[] = [];

  /** A healthy service, with fresh targets: earlier runs may have deleted or reassigned them. */
  const prepare = async () => {
    const app = await serviceFor();
    const created = [];
    for (const session of [user, user, user, admin]) {
      const res = await app.call('POST', '/tasks', { token: session.token, body: { title: 'Fuzz target', dueDate: '2020-01-01T00:00:00Z' } });
      created.push(res.body.id as string);
    }
    taskIds = created;
  };

  const idText = () =>
    fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...taskIds, user.userId, admin.userId) },
      { weight: 1, arbitrary: fc.constantFrom(...taskIds, user.userId).map((id) => id.toUpperCase()) },
      { weight: 2, arbitrary: fc.uuid().map(String) },
      { weight: 1, arbitrary: fc.constantFrom(...EDGE_UUIDS) },
      { weight: 1, arbitrary: text },
    );

  /** Values near what a field accepts: boundaries, wrong cases, odd characters, impossible dates. */
  const fieldValue = (name: string): fc.Arbitrary<unknown> => {
    const near = ((): fc.Arbitrary<unknown> => {
      switch (name) {
        case 'status':
          return oneOf(['PENDING', 'IN_PROGRESS', 'COMPLETED']);
        case 'priority':
          return oneOf(['LOW', 'MEDIUM', 'HIGH']);
        case 'action':
          return oneOf(['complete', 'delete']);
        case 'role':
          return oneOf(['user', 'admin']);
        case 'sortBy':
          return oneOf(['createdAt', 'updatedAt', 'dueDate', 'priority', 'title']);
        case 'sortOrder':
          return oneOf(['ASC', 'DESC']);
        case 'dueDate':
        case 'dueBefore':
        case 'dueAfter':
        case 'asOf':
          return fc.oneof({ weight: 4, arbitrary: dateText }, { weight: 1, arbitrary: fc.constant(null) });
        case 'userId':
          return idText();
        case 'tasks':
          return fc.oneof(fc.array(idText(), { maxLength: 5 }), fc.constantFrom(0, 99, 100, 101).map((n) => Array.from({ length: n }, () => randomUUID())));
        case 'page':
        case 'limit':
        case 'version':
          return intText;
        case 'overdue':
          return fc.constantFrom(true, false, 'true', 'false', 'yes', '1', 0);
        case 'email':
          return fc.oneof(
            fc.emailAddress().map((e) => `${UNIQUE}${e}`),
            fc.constant(user.email),
            fc.constant(user.email.toUpperCase()),
            fc.tuple(text, fc.domain()).map(([l, d]) => `${l}${UNIQUE}@${d}`),
            text,
          );
        case 'refresh_token':
          return fc.oneof(fc.constant(user.refreshToken), fc.uuid().map((id) => `${id}.${'s'.repeat(43)}`), text);
        default:
          return text;
      }
    })();
    return fc.oneof({ weight: 4, arbitrary: near }, { weight: 1, arbitrary: weird });
  };

  const validBody = (method: string, path: string): Record<string, unknown> => {
    switch (`${method} ${path}`) {
      case 'POST /auth/register':
        return { email: `fuzz-${UNIQUE}@test.example`, name: 'Fuzz', password: 'long enough password' };
      case 'POST /auth/login':
        return { email: user.email, password: user.password };
      case 'POST /auth/refresh':
      case 'POST /auth/logout':
        return { refresh_token: `${randomUUID()}.secret` };
      case 'POST /tasks':
        return { title: 'Fuzzed' };
      case 'POST /tasks/batch':
        return { tasks: [taskIds[0]], action: 'complete' };
      case 'PATCH /tasks/{id}':
        return { title: 'Fuzzed again' };
      case 'PATCH /users/{id}':
        return { role: 'user' };
      default:
        return {};
    }
  };

  /** None; a valid body with some fields replaced, dropped or added; any JSON; raw bytes under any media type. */
  const bodyArb = (method: string, path: string, fields: readonly string[]): fc.Arbitrary<Body> => {
    const known = fields.length ? fields : ['title'];
    const changes = fc.record(Object.fromEntries(known.map((f) => [f, fieldValue(f)])), { requiredKeys: [] });
    return fc.oneof(
      { weight: 1, arbitrary: fc.constant<Body>({}) },
      {
        weight: 6,
        arbitrary: fc
          .tuple(changes, fc.subarray([...known]), fc.option(fc.dictionary(text, weird, { maxKeys: 2 }), { freq: 4, nil: undefined }))
          .map(([changed, dropped, extra]): Body => {
            const body: Record<string, unknown> = { ...validBody(method, path), ...changed, ...extra };
            for (const f of dropped) if (!(f in changed)) delete body[f];
            return { body };
          }),
      },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((body): Body => ({ body })) },
      // Sent as text: the test's own JSON.stringify would overflow its stack on the deepest.
      { weight: 1, arbitrary: fc.oneof(deepJson, oddJson).map((rawBody): Body => ({ rawBody, headers: { 'content-type': 'application/json' } })) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.oneof(fc.constantFrom(...RAW_BODIES), fc.string({ unit: 'binary', maxLength: 60 })), fc.option(fc.constantFrom(...CONTENT_TYPES), { nil: undefined }))
          .map(([rawBody, type]): Body => ({ rawBody, headers: type ? { 'content-type': type } : {} })),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.constantFrom(...CONTENT_TYPES), fc.option(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-unknown'), { nil: undefined }))
          .map(([type, encoding]): Body => ({
            rawBody: JSON.stringify(validBody(method, path)),
            headers: { 'content-type': type, ...(encoding ? { 'content-encoding': encoding } : {}) },
          })),
      },
    );
  };

  /** Documented parameters with near and odd values, unknown names, repeats, empties and undecodable escapes. */
  const queryArb = (names: readonly string[]) => {
    const known = names.length ? names : ALL_QUERY_NAMES;
    const encode = (v: unknown) => urlEncode(typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));
    return fc
      .array(
        fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom(...known).chain((k) => fieldValue(k).map((v) => `${k}=${encode(v)}`)) },
          { weight: 1, arbitrary: fc.tuple(fc.oneof(fc.constantFrom(...ALL_QUERY_NAMES), text), text).map(([k, v]) => `${encode(k)}=${encode(v)}`) },
          { weight: 1, arbitrary: fc.constantFrom(...known).map((k) => `${k}=`) },
          { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...known), fc.constantFrom(...RAW_QUERY_PARTS)).map(([k, v]) => `${k}=${v}`) },
          { weight: 1, arbitrary: fc.constantFrom(...RAW_QUERY_PARTS) },
        ),
        { maxLength: 5 },
      )
      .map((parts) => (parts.length ? `?${parts.join('&')}` : ''))
      .filter((query) => query.length <= MAX_URL_PART);
  };

  const tokenArb = () =>
    fc.oneof(
      { weight: 5, arbitrary: fc.constant<string | undefined>(user.token) },
      { weight: 3, arbitrary: fc.constant<string | undefined>(admin.token) },
      { weight: 1, arbitrary: fc.constant<string | undefined>(undefined) },
      { weight: 1, arbitrary: fc.constantFrom<string | undefined>('garbage', 'a.b.c', `${user.token}x`, `${user.token.split('.').slice(0, 2).join('.')}.`) },
    );

  const pathIdArb = () =>
    fc.oneof(
      { weight: 5, arbitrary: idText().map((id) => urlEncode(String(id))).filter((id) => id.length <= MAX_URL_PART) },
      { weight: 1, arbitrary: fc.constantFrom(...RAW_IDS) },
    );

  const requestArb = (method: string, path: string, operation: Operation): fc.Arbitrary<FuzzRequest> =>
    fc
      .record({
        id: pathIdArb(),
        query: queryArb(queryNames(operation)),
        // fetch cannot send a body with GET.
        body: method === 'GET' ? fc.constant<Body>({}) : bodyArb(method, path, bodyFields(operation)),
        token: tokenArb(),
        headers: extraHeaders,
      })
      .map(
        ({ id, query, body, token, headers }) =>
          new FuzzRequest(method, `${path.replace('{id}', id)}${query}`, { token, body: body.body, rawBody: body.rawBody, headers: { ...headers, ...body.headers } }),
      );

  /**
   * A service whose projection an earlier request left stuck answers every read with 503, which
   * says nothing new about the next operation: that one gets a fresh service.
   */
  const serviceFor = async (): Promise<TestApp> => {
    if (app && !checks.stuck()) return app;
    await app?.close();
    app = await startTestApp(FUZZ_ENV);
    checks = checker(app);
    user = await app.newUser('Fuzz user');
    admin = await app.admin();
    return app;
  };
  afterAll(() => app?.close());

  it('covers every documented operation', () => {
    const names = operations.map((o) => `${o.method} ${o.path}`);
    expect(names).toEqual(expect.arrayContaining(['POST /auth/register', 'POST /tasks/batch', 'PATCH /users/{id}', 'GET /notifications']));
    expect(names.length).toBeGreaterThanOrEqual(19);
  });

  for (const { method, path, operation } of operations) {
    it(`${method} ${path}`, { timeout: 120_000 }, async () => {
      await prepare();
      await fc.assert(fc.asyncProperty(requestArb(method, path, operation), checks.check), { numRuns: RUNS_PER_OPERATION, seed: SEED });
    });
  }

  it('any method on any path, documented or not', { timeout: 120_000 }, async () => {
    await prepare();
    const segment = fc.oneof(
      fc.constantFrom('tasks', 'users', 'auth', 'notifications', 'health', 'api', 'me', 'stats', 'batch', 'history', 'login', ...taskIds),
      pathIdArb().filter((id) => id.length > 0),
    );
    const arb = fc
      .record({
        method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'),
        segments: fc.array(segment, { minLength: 0, maxLength: 4 }),
        query: queryArb(ALL_QUERY_NAMES),
        body: bodyArb('POST', '/tasks', ['title', 'role', 'tasks', 'action', 'email']),
        token: tokenArb(),
      })
      .map(
        ({ method, segments, query, body, token }) =>
          new FuzzRequest(
            method,
            `/${segments.join('/')}${query}`,
            ['GET', 'HEAD'].includes(method) ? { token } : { token, body: body.body, rawBody: body.rawBody, headers: body.headers },
          ),
      );
    await fc.assert(fc.asyncProperty(arb, checks.check), { numRuns: RUNS_ANY_ROUTE, seed: SEED });
  });
});

/**
 * Requests the fuzzer has found breaking a property (shrunk to their minimal form), kept so each
 * is checked on every run whatever the seed. An accepted event no projection can apply leaves the
 * read models stuck, so those cases run each on a service of its own.
 */
describe('fuzz: minimal counterexamples found so far (e2e)', () => {
  let app: TestApp;
  let check: (req: FuzzRequest) => Promise<void>;
  let session: { token: string; userId: string };
  let taskId: string;

  beforeAll(async () => {
    app = await startTestApp(FUZZ_ENV);
    check = checker(app).check;
    session = await app.newUser('Counterexample user');
    taskId = (await app.call('POST', '/tasks', { token: session.token, body: { title: 'Target' } })).body.id;
  });
  afterAll(() => app?.close());

  const json = (body: unknown) => ({ rawBody: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const cases: Record<string, () => FuzzRequest> = {
    'an undecodable path segment': () => new FuzzRequest('GET', '/tasks/%', { token: session.token }),
    'a NUL character in a title': () => new FuzzRequest('POST', '/tasks', { token: session.token, ...json({ title: '\u0000' }) }),
    'a lone surrogate in a title': () => new FuzzRequest('POST', '/tasks', { token: session.token, ...json({ title: 'a\ud800b' }) }),
    'a NUL character in a description change': () =>
      new FuzzRequest('PATCH', `/tasks/${taskId}`, { token: session.token, ...json({ description: 'a\u0000b' }) }),
    'a NUL character in a registration name': () =>
      new FuzzRequest('POST', '/auth/register', json({ email: `nul-${randomUUID().slice(0, 8)}@test.example`, name: '\u0000', password: 'long enough password' })),
    'a NUL character in a login email': () => new FuzzRequest('POST', '/auth/login', json({ email: '\u0000@a.aa', password: 'correct horse battery' })),
    'a NUL character in a search': () => new FuzzRequest('GET', '/tasks?search=%00', { token: session.token }),
    'a date in year 0 as a filter': () => new FuzzRequest('GET', '/tasks?dueBefore=0000-12-31T23%3A59%3A59.999Z', { token: session.token }),
    'a body on DELETE that is not JSON': () =>
      new FuzzRequest('DELETE', `/tasks/${randomUUID()}`, { token: session.token, rawBody: 'x', headers: { 'content-type': 'text/plain' } }),
    'an oversized body on DELETE': () =>
      new FuzzRequest('DELETE', `/tasks/${randomUUID()}`, { token: session.token, ...json({ pad: 'x'.repeat(120_000) }) }),
    'an e-mail address with non-ASCII characters': () =>
      new FuzzRequest('POST', '/auth/register', json({ email: `é${randomUUID().slice(0, 6)}@é.fr`, name: 'Unicode', password: 'long enough password' })),
  };
  for (const [name, request] of Object.entries(cases)) it(name, () => check(request()));

  it('an upper-case task id addresses the same task for every operation that accepts it', async () => {
    const id = taskId.toUpperCase();
    const read = await app.call('GET', `/tasks/${id}`, { token: session.token });
    const history = await app.call('GET', `/tasks/${id}/history`, { token: session.token });
    const atVersion = await app.call('GET', `/tasks/${id}?version=1`, { token: session.token });
    const change = await app.call('PATCH', `/tasks/${id}`, { token: session.token, body: { priority: 'HIGH' } });
    expect({ history: history.status, atVersion: atVersion.status, change: change.status }).toEqual({
      history: read.status,
      atVersion: read.status,
      change: read.status,
    });
  });

  for (const [name, dueDate] of [
    ['a due date after year 9999', '+275760-09-13T00:00:00.000Z'],
    ['a due date in year 0', '0000-01-01T00:00:00Z'],
    ['a due date before year 0', '-000001-01-01T00:00:00Z'],
  ] as const)
    it(`${name} is refused or can be read back`, async () => {
      const own = await startTestApp(FUZZ_ENV);
      try {
        const user = await own.newUser();
        await checker(own).check(new FuzzRequest('POST', '/tasks', { token: user.token, body: { title: 'Far away', dueDate } }));
      } finally {
        await own.close();
      }
    });
});
