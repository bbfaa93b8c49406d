import type { Request, Response, Router } from 'express';
import Joi from 'joi';
import type { TaskCommands } from '../../commands/tasks.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.js';
import { TASK_PRIORITIES, TASK_STATUSES } from '../../domain/task/events.js';
import { DESCRIPTION_MAX, TITLE_MAX } from '../../domain/task/decide.js';
import type { Task } from '../../domain/task/state.js';
import type { EventStore } from '../../infra/eventstore/eventStore.js';
import { getTaskAt, getTaskHistory } from '../../queries/taskHistory.js';
import { getTask, getTaskStats, listTasks, TASK_SORT_FIELDS, type TaskFilters, type TaskScope } from '../../queries/tasks.js';
import type { Knex } from 'knex';
import { cached, ownerScope, taskScope, type Cache } from '../../infra/cache/cache.js';
import { compareLogPositions, latestPosition } from '../../domain/event.js';
import type { Consistency } from '../consistency.js';
import { createHash } from 'node:crypto';
import { actorOf, commandOptions } from '../context.js';
import { idParam, isoDateTime, noQuery, pagination, uuid, validate } from '../validation.js';

export type TaskRouteDeps = Readonly<{
  knex: Knex;
  cache: Cache;
  eventStore: EventStore;
  tasks: TaskCommands;
  consistency: Consistency;
  now: () => Date;
}>;

const title = Joi.string().trim().min(1).max(TITLE_MAX);
const description = Joi.string().max(DESCRIPTION_MAX).allow(null, '');
const status = Joi.string().valid(...TASK_STATUSES);
const priority = Joi.string().valid(...TASK_PRIORITIES);

const createSchema = Joi.object({
  title: title.required(),
  description,
  status,
  priority,
  dueDate: isoDateTime.allow(null),
  userId: uuid,
});
const updateSchema = Joi.object({ title, description, status, priority, dueDate: isoDateTime.allow(null), userId: uuid });
const listSchema = Joi.object({
  status,
  priority,
  userId: uuid,
  search: Joi.string().min(1).max(200),
  dueBefore: isoDateTime,
  dueAfter: isoDateTime,
  overdue: Joi.boolean(),
  ...pagination,
  sortBy: Joi.string().valid(...TASK_SORT_FIELDS).default('createdAt'),
  sortOrder: Joi.string().uppercase().valid('ASC', 'DESC').default('DESC'),
});
const pointInTimeSchema = Joi.object({ version: Joi.number().integer().min(1).max(1_000_000), asOf: isoDateTime }).oxor('version', 'asOf');
const batchSchema = Joi.object({
  tasks: Joi.array().items(uuid.required()).min(1).max(100).required(),
  action: Joi.string().valid('complete', 'delete').required(),
});

const PROJECTIONS = ['tasks'] as const;
const etag = (version: number) => `"${version}"`;

/** If-Match → the version the client saw; `*` means any. An unreadable tag can match nothing. */
const expectedVersionOf = (req: Request): number | undefined => {
  const header = req.get('if-match');
  if (header === undefined || header.trim() === '*') return undefined;
  const match = /^\s*(?:W\/)?"?(\d{1,9})"?\s*$/.exec(header);
  return match ? Number(match[1]) : -1;
};

const sendTask = (res: Response, status: number, task: Task) => res.status(status).setHeader('ETag', etag(task.version)).json(task);

export const taskRoutes = (deps: TaskRouteDeps) => (router: Router) => {
  const { knex, cache, eventStore, tasks, consistency, now } = deps;

  const scopeOf = (res: Response): TaskScope => {
    const actor = actorOf(res);
    return { ownerId: actor.role === 'admin' ? null : actor.userId };
  };
  /**
   * A cached read that reflects the caller's own last write (or the token it sent): the position
   * is asked for in the same moment as the cache (one round trip to Redis), and only when the
   * entry found is older than it does the read wait for the projection and load.
   */
  const freshCached = async <T>(req: Request, res: Response, key: string, scopes: readonly string[], load: () => Promise<T>) => {
    const [atLeast, found] = await Promise.all([consistency.required(req, res), cache.read(key, scopes)]);
    if (atLeast && !(found.hit && compareLogPositions(found.at, atLeast) >= 0)) await consistency.awaitProjected(PROJECTIONS, atLeast);
    return cached(cache, key, scopes, load, { atLeast, found });
  };
  const taskOf = (state: { kind: string; task?: Task }) => {
    if (state.kind !== 'active' || !state.task) throw new NotFoundError('Task not found', 'TASK_NOT_FOUND');
    return state.task;
  };

  router.post('/tasks', async (req, res) => {
    const input = validate(createSchema, req.body, 'task');
    const result = await tasks.create(input, commandOptions(res, now));
    await consistency.answered(res, result);
    const task = taskOf(result.state);
    res.setHeader('Location', `/tasks/${task.id}`);
    sendTask(res, 201, task);
  });

  router.get('/tasks', async (req, res) => {
    const filters = validate(listSchema, req.query, 'query') as TaskFilters;
    const scope = scopeOf(res);
    if (scope.ownerId && filters.userId && filters.userId !== scope.ownerId)
      throw new ForbiddenError("Only an admin can list another user's tasks", 'LIST_FORBIDDEN');
    const key = `tasks:list:${scope.ownerId ?? '*'}:${createHash('sha1').update(JSON.stringify(filters)).digest('base64url')}`;
    res.json(await freshCached(req, res, key, [ownerScope(scope.ownerId)], () => listTasks(knex, scope, filters)));
  });

  router.get('/tasks/stats', async (req, res) => {
    const scope = scopeOf(res);
    res.json(await freshCached(req, res, `tasks:stats:${scope.ownerId ?? '*'}`, [ownerScope(scope.ownerId)], () => getTaskStats(knex, scope)));
  });

  router.post('/tasks/batch', async (req, res) => {
    const { tasks: ids, action } = validate(batchSchema, req.body, 'batch');
    const { results, positions } = await tasks.batch(ids, action, commandOptions(res, now));
    const reflects = latestPosition(...positions);
    await consistency.answered(res, { position: reflects, reflects });
    res.json({ results });
  });

  router.get('/tasks/:id', async (req, res) => {
    const id = idParam(req.params);
    const at = (Object.keys(req.query).length ? validate(pointInTimeSchema, req.query, 'query') : {}) as { version?: number; asOf?: string };
    if (at.version !== undefined || at.asOf !== undefined)
      return sendTask(res, 200, await getTaskAt(eventStore, actorOf(res), id, at));
    // Cached whoever asks; the scope check runs on every read.
    const task = await freshCached(req, res, `task:${id}`, [taskScope(id)], () => getTask(knex, { ownerId: null }, id));
    const { ownerId } = scopeOf(res);
    if (!task || (ownerId && task.userId !== ownerId)) throw new NotFoundError('Task not found', 'TASK_NOT_FOUND');
    sendTask(res, 200, task);
  });

  router.get('/tasks/:id/history', async (req, res) => {
    const id = idParam(req.params);
    validate(noQuery, req.query, 'query');
    res.json({ data: await getTaskHistory(eventStore, actorOf(res), id) });
  });

  router.patch('/tasks/:id', async (req, res) => {
    const id = idParam(req.params);
    const changes = validate(updateSchema, req.body, 'update');
    if (Object.keys(changes).length === 0)
      throw new ValidationError('The update names no field to change', [], 'EMPTY_UPDATE');
    const result = await tasks.update(id, changes, commandOptions(res, now, expectedVersionOf(req)));
    await consistency.answered(res, result);
    sendTask(res, 200, taskOf(result.state));
  });

  router.delete('/tasks/:id', async (req, res) => {
    const id = idParam(req.params);
    const result = await tasks.delete(id, commandOptions(res, now, expectedVersionOf(req)));
    await consistency.answered(res, result);
    res.status(204).end();
  });
};
