import { ValidationError } from '../domain/errors.js';
import type { Projection } from '../projections/projection.js';
import { TASK_STATS_TABLE, TASKS_TABLE, tasksProjectionFor } from '../projections/tasks.js';
import { USERS_TABLE, usersProjectionFor } from '../projections/users.js';

/** A read model: built from the log into tables, so it can be rebuilt into other tables. */
export type ReadModel = Readonly<{
  name: string;
  /** The projection over the live tables mapped by `table` (identity for the live one). */
  over: (table: (live: string) => string) => Projection;
}>;

export const READ_MODELS: readonly ReadModel[] = [
  { name: 'tasks', over: (table) => tasksProjectionFor({ tasks: table(TASKS_TABLE), stats: table(TASK_STATS_TABLE) }) },
  { name: 'users', over: (table) => usersProjectionFor({ users: table(USERS_TABLE) }) },
];

/** Checkpointed subscriptions with side effects (jobs), not tables: they can be watched, not rebuilt. */
export const SUBSCRIPTIONS: readonly string[] = ['notification-jobs'];

export const PROJECTION_NAMES: readonly string[] = [...READ_MODELS.map((m) => m.name), ...SUBSCRIPTIONS];

export const liveProjection = (model: ReadModel) => model.over((table) => table);

const unknownProjection = (name: string) =>
  new ValidationError(`Unknown projection "${name}": expected one of ${PROJECTION_NAMES.join(', ')}`, [], 'UNKNOWN_PROJECTION');

/** The name of a projection (read model or subscription), or a clear refusal naming what exists. */
export const projectionNamed = (name: string): string => {
  if (PROJECTION_NAMES.includes(name)) return name;
  throw unknownProjection(name);
};

/** The read model of that name, or a clear refusal naming what exists. */
export const readModelNamed = (name: string): ReadModel => {
  const model = READ_MODELS.find((m) => m.name === name);
  if (model) return model;
  if (SUBSCRIPTIONS.includes(name))
    throw new ValidationError(
      `${name} is a subscription that enqueues jobs, not a read model: there is nothing to rebuild or verify`,
      [],
      'NOT_A_READ_MODEL',
    );
  throw unknownProjection(name);
};
