import { TASK_PRIORITIES, TASK_STATUSES } from '../domain/task/events.js';
import { DESCRIPTION_MAX, TITLE_MAX } from '../domain/task/decide.js';
import { ROLES } from '../domain/actor.js';
import { TASK_SORT_FIELDS } from '../queries/tasks.js';

// The OpenAPI 3.1 description of the API. The end-to-end tests validate every response they
// receive against it, so it cannot drift from the code.

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const uuid = { type: 'string', format: 'uuid' } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;
const nullable = (schema: Record<string, unknown>) => ({ ...schema, type: [schema.type as string, 'null'] });
const json = (schema: unknown) => ({ 'application/json': { schema } });
/** An event of the log as projection status names it. */
const projectionEvent = {
  type: 'object',
  additionalProperties: false,
  required: ['eventId', 'position', 'streamId', 'streamVersion', 'type'],
  properties: { eventId: uuid, position: { type: 'string', description: 'tx/pos' }, streamId: { type: 'string' }, streamVersion: { type: 'integer' }, type: { type: 'string' } },
} as const;

const PROBLEM_TEXT: Record<number, string> = {
  400: 'Invalid request: body, parameters or query',
  401: 'Missing, invalid or expired credentials',
  403: 'Not allowed for this caller',
  404: 'Not found, or not visible to this caller',
  409: 'Conflicts with the current state',
  412: 'If-Match does not match the current version',
  413: 'Request body too large',
  415: 'Request body is not JSON',
  422: 'Idempotency-Key reused with a different request',
  429: 'Rate limit exceeded; see Retry-After',
  500: 'Unexpected error',
  503: 'A dependency is unavailable, or the read model is behind; see Retry-After',
};

// Any request may carry a malformed path, an oversized or non-JSON body, or exceed a rate limit.
const problems = (...statuses: number[]) =>
  Object.fromEntries(
    [...new Set([...statuses, 400, 413, 415, 429, 500, 503])].sort().map((s) => [String(s), { $ref: `#/components/responses/Problem${s}` }]),
  );

const ok = (description: string, schema: unknown, headers?: Record<string, unknown>) => ({
  description,
  content: json(schema),
  ...(headers ? { headers } : {}),
});

const etagHeader = { ETag: { description: 'The task version as an entity tag, e.g. "3"', schema: { type: 'string' } } };
const CONSISTENCY =
  'Opaque token of the log position this answer reflects. Sent back on a read (to any instance), the read waits until the read models have passed it (bounded; 503 READ_MODEL_BEHIND with Retry-After past the bound); a token not issued by this service is 400 INVALID_CONSISTENCY_TOKEN.';
/** Every 2xx command answers with it. */
const consistencyHeader = { 'Consistency-Token': { description: CONSISTENCY, schema: { type: 'string' } } };
/** Every read of a read model takes it. */
const consistencyToken = { name: 'Consistency-Token', in: 'header', required: false, description: CONSISTENCY, schema: { type: 'string', maxLength: 200 } };
const idParam = { name: 'id', in: 'path', required: true, schema: uuid };
const ifMatch = {
  name: 'If-Match',
  in: 'header',
  required: false,
  description: 'Only apply the change if the task is still at this version (ETag); 412 otherwise',
  schema: { type: 'string' },
};
const idempotencyKey = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description: 'Replays the first response for the same key and body for 24 h; another body → 422',
  schema: { type: 'string', minLength: 1, maxLength: 255 },
};
const pageParams = [
  { name: 'page', in: 'query', schema: { type: 'integer', minimum: 1, default: 1 } },
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 10 } },
];
const query = (name: string, schema: unknown, description?: string) => ({ name, in: 'query', schema, ...(description ? { description } : {}) });
const secured = [{ bearer: [] }];
const body = (schema: unknown, required = true) => ({ required, content: json(schema) });
/** `{ data: [items] }`, the shape of unpaginated lists. */
const listOf = (items: unknown) => ({
  type: 'object',
  additionalProperties: false,
  required: ['data'],
  properties: { data: { type: 'array', items } },
});
const pageOf = (item: string) => ({
  type: 'object',
  additionalProperties: false,
  required: ['data', 'meta'],
  properties: { data: { type: 'array', items: ref(item) }, meta: ref('PageMeta') },
});

const task = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'title', 'description', 'status', 'priority', 'dueDate', 'userId', 'isOverdue', 'version', 'createdAt', 'updatedAt'],
  properties: {
    id: uuid,
    title: { type: 'string', minLength: 1, maxLength: TITLE_MAX },
    description: nullable({ type: 'string', maxLength: DESCRIPTION_MAX }),
    status: { type: 'string', enum: TASK_STATUSES },
    priority: { type: 'string', enum: TASK_PRIORITIES },
    dueDate: nullable(dateTime),
    userId: uuid,
    isOverdue: { type: 'boolean' },
    version: { type: 'integer', minimum: 1 },
    createdAt: dateTime,
    updatedAt: dateTime,
  },
};

const taskFields = {
  title: { type: 'string', minLength: 1, maxLength: TITLE_MAX },
  description: nullable({ type: 'string', maxLength: DESCRIPTION_MAX }),
  status: { type: 'string', enum: TASK_STATUSES },
  priority: { type: 'string', enum: TASK_PRIORITIES },
  dueDate: nullable(dateTime),
  userId: { ...uuid, description: 'Owner; another user than the caller is admin-only' },
};

const user = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'email', 'name', 'role', 'createdAt', 'updatedAt'],
  properties: { id: uuid, email: { type: 'string', format: 'email' }, name: { type: 'string' }, role: { type: 'string', enum: ROLES }, createdAt: dateTime, updatedAt: dateTime },
};

const healthCheck = {
  type: 'object',
  required: ['status', 'latencyMs'],
  properties: { status: { type: 'string', enum: ['up', 'down'] }, latencyMs: { type: 'number' }, error: { type: 'string' } },
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'TaskFlow API',
    version: '0.1.0',
    description:
      'Event-sourced task management. Every change is an event; reads come from projections. ' +
      "After a 2xx command, the same user's next query reflects it (read-your-writes). Errors are RFC 9457 problem+json.",
  },
  servers: [{ url: '/' }],
  tags: [{ name: 'auth' }, { name: 'tasks' }, { name: 'notifications' }, { name: 'users' }, { name: 'health' }, { name: 'admin' }],
  paths: {
    '/auth/register': {
      post: {
        tags: ['auth'],
        summary: 'Create an account and sign in',
        requestBody: body(ref('Registration')),
        responses: { '201': ok('Registered and signed in', ref('Session'), consistencyHeader), ...problems(400, 409, 413, 415) },
      },
    },
    '/auth/login': {
      post: {
        tags: ['auth'],
        summary: 'Sign in',
        requestBody: body(ref('Credentials')),
        responses: { '200': ok('Signed in', ref('Session')), ...problems(400, 401, 413, 415) },
      },
    },
    '/auth/refresh': {
      post: {
        tags: ['auth'],
        summary: 'Trade a refresh token for a new pair (rotation; reusing a used one revokes the session)',
        requestBody: body(ref('RefreshRequest')),
        responses: { '200': ok('New token pair', ref('Session')), ...problems(400, 401, 413, 415) },
      },
    },
    '/auth/logout': {
      post: {
        tags: ['auth'],
        summary: 'Revoke the session of a refresh token',
        requestBody: body(ref('RefreshRequest')),
        responses: { '204': { description: 'Signed out' }, ...problems(400, 401, 413, 415) },
      },
    },
    '/tasks': {
      get: {
        tags: ['tasks'],
        summary: "List tasks in the caller's scope (own tasks; all for admins)",
        security: secured,
        parameters: [
          query('status', { type: 'string', enum: TASK_STATUSES }),
          query('priority', { type: 'string', enum: TASK_PRIORITIES }),
          query('userId', uuid, "Owner filter; another user's id is admin-only"),
          query('search', { type: 'string', minLength: 1, maxLength: 200 }, 'Case-insensitive text in title or description'),
          query('dueBefore', dateTime),
          query('dueAfter', dateTime),
          query('overdue', { type: 'boolean' }),
          ...pageParams,
          query('sortBy', { type: 'string', enum: TASK_SORT_FIELDS, default: 'createdAt' }),
          query('sortOrder', { type: 'string', enum: ['ASC', 'DESC', 'asc', 'desc'], default: 'DESC' }, 'Case-insensitive'),
          consistencyToken,
        ],
        responses: { '200': ok('A page of tasks', pageOf('Task')), ...problems(400, 401, 403) },
      },
      post: {
        tags: ['tasks'],
        summary: 'Create a task',
        security: secured,
        parameters: [idempotencyKey],
        requestBody: body(ref('NewTask')),
        responses: {
          '201': ok('Created', ref('Task'), {
            ...etagHeader,
            ...consistencyHeader,
            Location: { description: 'URL of the new task', schema: { type: 'string' } },
          }),
          ...problems(400, 401, 403, 413, 415, 422),
        },
      },
    },
    '/tasks/stats': {
      get: {
        tags: ['tasks'],
        summary: "Counts over the caller's scope",
        security: secured,
        parameters: [consistencyToken],
        responses: { '200': ok('Counts', ref('TaskStats')), ...problems(401) },
      },
    },
    '/tasks/batch': {
      post: {
        tags: ['tasks'],
        summary: 'Complete or delete up to 100 tasks; one result per id, in order',
        security: secured,
        parameters: [idempotencyKey],
        requestBody: body(ref('BatchRequest')),
        responses: { '200': ok('One result per id', ref('BatchResponse'), consistencyHeader), ...problems(400, 401, 413, 415, 422) },
      },
    },
    '/tasks/{id}': {
      parameters: [idParam],
      get: {
        tags: ['tasks'],
        summary: 'One task; with version or asOf, the task as it was then (folded from the log)',
        security: secured,
        parameters: [
          query('version', { type: 'integer', minimum: 1 }, 'The task at this version'),
          query('asOf', dateTime, 'The task as it was at this moment'),
          consistencyToken,
        ],
        responses: { '200': ok('The task', ref('Task'), etagHeader), ...problems(400, 401, 404) },
      },
      patch: {
        tags: ['tasks'],
        summary: 'Change a task; one event per changed aspect',
        security: secured,
        parameters: [ifMatch, idempotencyKey],
        requestBody: body(ref('TaskChanges')),
        responses: { '200': ok('The changed task', ref('Task'), { ...etagHeader, ...consistencyHeader }), ...problems(400, 401, 403, 404, 412, 413, 415, 422) },
      },
      delete: {
        tags: ['tasks'],
        summary: 'Delete a task',
        security: secured,
        parameters: [ifMatch, idempotencyKey],
        responses: { '204': { description: 'Deleted', headers: consistencyHeader }, ...problems(400, 401, 404, 412, 422) },
      },
    },
    '/tasks/{id}/history': {
      parameters: [idParam],
      get: {
        tags: ['tasks'],
        summary: 'Every event of the task, in order (owner or admin)',
        security: secured,
        responses: { '200': ok('The history', ref('TaskHistory')), ...problems(400, 401, 404) },
      },
    },
    '/notifications': {
      get: {
        tags: ['notifications'],
        summary: "The caller's notifications, newest first",
        security: secured,
        parameters: pageParams,
        responses: { '200': ok('A page of notifications', pageOf('Notification')), ...problems(400, 401) },
      },
    },
    '/users/me': {
      get: {
        tags: ['users'],
        summary: 'The caller',
        security: secured,
        parameters: [consistencyToken],
        responses: { '200': ok('The caller', ref('User')), ...problems(400, 401, 404) },
      },
    },
    '/users': {
      get: {
        tags: ['users'],
        summary: 'All users (admin)',
        security: secured,
        parameters: [...pageParams, consistencyToken],
        responses: { '200': ok('A page of users', pageOf('User')), ...problems(400, 401, 403) },
      },
    },
    '/users/{id}': {
      parameters: [idParam],
      patch: {
        tags: ['users'],
        summary: "Change a user's role (admin); the last admin cannot be demoted",
        security: secured,
        parameters: [idempotencyKey],
        requestBody: body(ref('RoleChange')),
        responses: { '200': ok('The user', ref('User'), consistencyHeader), ...problems(400, 401, 403, 404, 409, 413, 415, 422) },
      },
    },
    '/health/live': {
      get: { tags: ['health'], summary: 'The process is up', responses: { '200': ok('Alive', { type: 'object', required: ['status'], properties: { status: { const: 'ok' } } }) } },
    },
    '/health/ready': {
      get: {
        tags: ['health'],
        summary: 'Ready to serve: every required dependency answers',
        responses: { '200': ok('Ready', ref('Readiness')), '503': ok('Not ready', ref('Readiness')) },
      },
    },
    '/admin/projections': {
      get: {
        tags: ['admin'],
        summary: "Each projection's checkpoint, lag, owner and state (admin); as `taskflow projections status`",
        security: secured,
        responses: { '200': ok('Projection status', ref('ProjectionStatusList')), ...problems(400, 401, 403) },
      },
    },
    '/admin/audit/verify': {
      get: {
        tags: ['admin'],
        summary: 'Folds every stream and compares it with the read models, row by row (admin); as `taskflow audit verify`',
        security: secured,
        parameters: [query('projection', { type: 'string', enum: ['tasks', 'users'] }, 'Only this read model')],
        responses: { '200': ok('The differences found; ok is true when there are none', ref('VerifyResult')), ...problems(400, 401, 403) },
      },
    },
    '/metrics': {
      get: {
        tags: ['health'],
        summary: 'Prometheus metrics (text exposition format)',
        responses: { '200': { description: 'Metrics', content: { 'text/plain': { schema: { type: 'string' } } } } },
      },
    },
    '/health': {
      get: {
        tags: ['health'],
        summary: 'Each dependency, projection lag and state',
        responses: { '200': ok('Healthy', ref('Health')), '503': ok('Degraded', ref('Health')) },
      },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    responses: Object.fromEntries(
      Object.entries(PROBLEM_TEXT).map(([status, description]) => [
        `Problem${status}`,
        {
          description,
          content: { 'application/problem+json': { schema: ref('Problem') } },
          ...(['429', '503'].includes(status)
            ? { headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'string' } } } }
            : {}),
        },
      ]),
    ),
    schemas: {
      Problem: {
        type: 'object',
        required: ['type', 'title', 'status', 'detail', 'code'],
        properties: {
          type: { type: 'string' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
          code: { type: 'string', description: 'Stable machine-readable code' },
          instance: { type: 'string' },
          errors: {
            type: 'array',
            items: { type: 'object', required: ['field', 'message'], properties: { field: { type: 'string' }, message: { type: 'string' } } },
          },
        },
      },
      PageMeta: {
        type: 'object',
        additionalProperties: false,
        required: ['total', 'page', 'limit', 'totalPages'],
        properties: { total: { type: 'integer' }, page: { type: 'integer' }, limit: { type: 'integer' }, totalPages: { type: 'integer' } },
      },
      Task: task,
      NewTask: { type: 'object', additionalProperties: false, required: ['title'], properties: taskFields },
      TaskChanges: { type: 'object', additionalProperties: false, minProperties: 1, properties: taskFields },
      TaskStats: {
        type: 'object',
        additionalProperties: false,
        required: ['total', 'pending', 'inProgress', 'completed', 'highPriority', 'overdue'],
        properties: Object.fromEntries(['total', 'pending', 'inProgress', 'completed', 'highPriority', 'overdue'].map((k) => [k, { type: 'integer', minimum: 0 }])),
      },
      BatchRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['tasks', 'action'],
        properties: { tasks: { type: 'array', items: uuid, minItems: 1, maxItems: 100 }, action: { type: 'string', enum: ['complete', 'delete'] } },
      },
      BatchResponse: {
        type: 'object',
        additionalProperties: false,
        required: ['results'],
        properties: {
          results: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['taskId', 'success'],
              properties: { taskId: uuid, success: { type: 'boolean' }, error: { type: 'string' }, code: { type: 'string' } },
            },
          },
        },
      },
      TaskHistory: listOf({
        type: 'object',
        additionalProperties: false,
        required: ['version', 'type', 'data', 'occurredAt', 'actor', 'correlationId'],
        properties: {
          version: { type: 'integer', minimum: 1 },
          type: { type: 'string' },
          data: { type: 'object' },
          occurredAt: dateTime,
          actor: { type: 'string', description: 'User id, or "system"' },
          correlationId: { type: 'string' },
        },
      }),
      Notification: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'type', 'taskId', 'createdAt'],
        properties: { id: uuid, type: { type: 'string', enum: ['TASK_OVERDUE'] }, taskId: uuid, createdAt: dateTime },
      },
      User: user,
      Registration: {
        type: 'object',
        additionalProperties: false,
        required: ['email', 'name', 'password'],
        properties: {
          email: { type: 'string', format: 'email', maxLength: 254 },
          name: { type: 'string', minLength: 1, maxLength: 100 },
          password: { type: 'string', minLength: 8, maxLength: 200, writeOnly: true },
        },
      },
      Credentials: {
        type: 'object',
        additionalProperties: false,
        required: ['email', 'password'],
        properties: { email: { type: 'string' }, password: { type: 'string', writeOnly: true } },
      },
      RefreshRequest: { type: 'object', additionalProperties: false, required: ['refresh_token'], properties: { refresh_token: { type: 'string' } } },
      Session: {
        type: 'object',
        additionalProperties: false,
        required: ['access_token', 'refresh_token', 'token_type', 'expires_in', 'user'],
        properties: {
          access_token: { type: 'string', description: 'JWT for the Authorization: Bearer header' },
          refresh_token: { type: 'string', description: 'Opaque; works once' },
          token_type: { const: 'Bearer' },
          expires_in: { type: 'integer', description: 'Seconds until the access token expires' },
          user: ref('User'),
        },
      },
      RoleChange: { type: 'object', additionalProperties: false, required: ['role'], properties: { role: { type: 'string', enum: ROLES } } },
      Readiness: {
        type: 'object',
        required: ['status', 'checks'],
        properties: { status: { type: 'string', enum: ['ready', 'unavailable'] }, checks: { type: 'object', additionalProperties: healthCheck } },
      },
      ProjectionStatusList: listOf({
        type: 'object',
        additionalProperties: false,
        required: ['name', 'kind', 'state', 'checkpoint', 'lagEvents', 'lagSeconds', 'owner', 'lastError', 'lastErrorAt', 'failure', 'parked', 'completeness', 'rebuild'],
        properties: {
          name: { type: 'string' },
          kind: { type: 'string', enum: ['read-model', 'subscription'] },
          state: {
            type: 'string',
            enum: ['live', 'retrying', 'rebuilding', 'failed', 'stopped'],
            description: 'failed: stopped on an event until `projections retry` or `park`; retrying: a dependency is unavailable, it retries by itself',
          },
          checkpoint: { type: ['string', 'null'], description: 'tx/pos of the last applied event' },
          lagEvents: { type: 'integer', minimum: 0 },
          lagSeconds: { type: 'number', minimum: 0 },
          owner: { type: ['string', 'null'], description: 'The instance running it' },
          lastError: { type: ['string', 'null'], description: 'The error it stopped on when failed, or the one its runner retries after' },
          lastErrorAt: nullable(dateTime),
          failure: { oneOf: [{ type: 'null' }, { ...projectionEvent, required: [...projectionEvent.required, 'error', 'attempts', 'failedAt'], properties: { ...projectionEvent.properties, error: { type: 'string' }, attempts: { type: 'integer' }, failedAt: dateTime } }] },
          parked: { type: 'array', items: ref('ParkedEvent') },
          completeness: {
            type: ['object', 'null'],
            additionalProperties: false,
            required: ['checkedAt', 'checkpoint', 'missing', 'doubled', 'problem', 'buckets'],
            properties: {
              checkedAt: dateTime,
              checkpoint: { type: 'string' },
              missing: { type: 'integer', minimum: 0, description: 'Events of the log below the checkpoint that the projection did not consume' },
              doubled: { type: 'integer', minimum: 0, description: 'Events consumed more often than the log holds them' },
              problem: { type: ['string', 'null'] },
              buckets: { type: 'array', items: ref('BucketDifference') },
            },
          },
          rebuild: {
            type: ['object', 'null'],
            additionalProperties: false,
            required: ['checkpoint', 'lagEvents', 'running', 'holder'],
            properties: { checkpoint: { type: 'string' }, lagEvents: { type: 'integer' }, running: { type: 'boolean' }, holder: { type: ['string', 'null'] } },
          },
        },
      }),
      ParkedEvent: {
        ...projectionEvent,
        description: 'An event an operator parked: the projection skips it',
        required: [...projectionEvent.required, 'error', 'reason', 'operator', 'at'],
        properties: { ...projectionEvent.properties, error: { type: ['string', 'null'] }, reason: { type: 'string' }, operator: { type: 'string' }, at: dateTime },
      },
      BucketDifference: {
        type: 'object',
        additionalProperties: false,
        required: ['bucket', 'positions', 'logged', 'consumed'],
        properties: { bucket: { type: 'integer' }, positions: { type: 'string' }, logged: { type: 'integer' }, consumed: { type: 'integer' } },
      },
      VerifyResult: {
        type: 'object',
        additionalProperties: false,
        required: ['ok', 'data'],
        properties: {
          ok: { type: 'boolean' },
          data: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['projection', 'checkpoint', 'events', 'rows', 'differenceCount', 'differences', 'parked', 'completeness'],
              properties: {
                projection: { type: 'string' },
                checkpoint: { type: 'string', description: 'The log was folded up to this read model checkpoint' },
                events: { type: 'integer' },
                rows: { type: 'object', additionalProperties: { type: 'integer' }, description: 'Rows compared, per table' },
                differenceCount: { type: 'integer' },
                differences: {
                  type: 'array',
                  description: 'At most 1000; differenceCount is exact',
                  items: {
                    type: 'object',
                    additionalProperties: false,
                    required: ['table', 'id', 'kind'],
                    properties: {
                      table: { type: 'string' },
                      id: { type: 'string' },
                      kind: { type: 'string', enum: ['missing', 'extra', 'different'] },
                      field: { type: 'string' },
                      expected: {},
                      actual: {},
                    },
                  },
                },
                parked: { type: 'array', items: ref('ParkedEvent'), description: 'Left out of the fold: reported, not differences' },
                completeness: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['missing', 'doubled', 'buckets'],
                  properties: { missing: { type: 'integer' }, doubled: { type: 'integer' }, buckets: { type: 'array', items: ref('BucketDifference') } },
                },
              },
            },
          },
        },
      },
      Health: {
        type: 'object',
        required: ['status', 'dependencies', 'projections'],
        properties: {
          status: { type: 'string', enum: ['ok', 'degraded'] },
          problems: { type: 'array', items: { type: 'string' }, description: 'Failed or incomplete projections and slow appends, one line each' },
          dependencies: { type: 'object', additionalProperties: healthCheck },
          oldestAppend: {
            description: 'The oldest append in flight: every projection waits for it to end (null when none)',
            oneOf: [
              { type: 'null' },
              {
                type: 'object',
                required: ['transactionId', 'ageSeconds'],
                properties: {
                  transactionId: { type: 'string' },
                  pid: { type: ['integer', 'null'] },
                  application: { type: ['string', 'null'] },
                  startedAt: { type: ['string', 'null'], format: 'date-time' },
                  ageSeconds: { type: 'number' },
                },
              },
            ],
          },
          projections: {
            type: 'object',
            additionalProperties: {
              type: 'object',
              required: ['state'],
              properties: {
                state: { type: 'string' },
                lastError: { type: ['string', 'null'] },
                lagEvents: { type: ['integer', 'null'] },
                checkpoint: { type: ['string', 'null'] },
              },
            },
          },
        },
      },
    },
  },
} as const;
