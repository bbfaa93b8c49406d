import type { Knex } from 'knex';
import { asStamped, type RecordedEvent } from '../domain/event.js';
import { TASK_EVENT_TYPES, type TaskEvent, type TaskPriority, type TaskStatus } from '../domain/task/events.js';
import { evolve, type Task, type TaskState } from '../domain/task/state.js';
import { ownerScope, taskScope } from '../infra/cache/cache.js';
import { NOTHING_TO_WRITE, WHEN_CHECKPOINT_MOVED, type BatchWrite, type Projection, type Statement } from './projection.js';

export const TASKS_TABLE = 'tasks';
export const TASK_STATS_TABLE = 'task_stats';

export const PRIORITY_RANK: Record<TaskPriority, number> = { LOW: 1, MEDIUM: 2, HIGH: 3 };

export type TaskRow = {
  id: string;
  user_id: string;
  title: string;
  description: string | null;
  status: TaskStatus;
  priority: TaskPriority;
  priority_rank: number;
  due_date: Date | string | null;
  is_overdue: boolean;
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
};

const iso = (value: Date | string): string => new Date(value).toISOString();

export const rowToTask = (row: TaskRow): Task => ({
  id: row.id,
  title: row.title,
  description: row.description,
  status: row.status,
  priority: row.priority,
  dueDate: row.due_date === null ? null : iso(row.due_date),
  userId: row.user_id,
  isOverdue: row.is_overdue,
  version: row.version,
  createdAt: iso(row.created_at),
  updatedAt: iso(row.updated_at),
});

export const taskToRow = (task: Task): TaskRow => ({
  id: task.id,
  user_id: task.userId,
  title: task.title,
  description: task.description,
  status: task.status,
  priority: task.priority,
  priority_rank: PRIORITY_RANK[task.priority],
  due_date: task.dueDate,
  is_overdue: task.isOverdue,
  version: task.version,
  created_at: task.createdAt,
  updated_at: task.updatedAt,
});

export type StatsDelta = { total: number; pending: number; in_progress: number; completed: number; high_priority: number; overdue: number };

/** What one task adds to (or, with -1, takes from) its owner's counters. */
export const contribution = (task: Task, sign: 1 | -1): StatsDelta => ({
  total: sign,
  pending: task.status === 'PENDING' ? sign : 0,
  in_progress: task.status === 'IN_PROGRESS' ? sign : 0,
  completed: task.status === 'COMPLETED' ? sign : 0,
  high_priority: task.priority === 'HIGH' ? sign : 0,
  overdue: task.isOverdue ? sign : 0,
});

export const taskIdOf = (event: Pick<RecordedEvent, 'streamId'>) => event.streamId.slice('task-'.length);

/** The tables a tasks projection writes: the live ones, or a rebuild's shadow copies. */
export type TasksTables = Readonly<{ tasks: string; stats: string }>;

/**
 * Folds a batch of events in memory with the domain's own `evolve`, starting from the rows the
 * batch touches, into the statements that write every changed row and the per-owner counters.
 */
const prepareTaskEvents = async (tables: TasksTables, knex: Knex, events: readonly RecordedEvent[]): Promise<BatchWrite> => {
  // The version each task's first event of the batch follows. A task whose stream starts in this
  // batch has no row yet (rows and checkpoint commit together, so no batch is applied twice):
  // only the others are read.
  const firstVersion = new Map<string, number>();
  for (const event of events) if (!firstVersion.has(taskIdOf(event))) firstVersion.set(taskIdOf(event), event.streamVersion);
  const known = [...firstVersion].filter(([, version]) => version > 1).map(([id]) => id);
  const rows = known.length ? await knex<TaskRow>(tables.tasks).whereRaw('id = ANY(?::uuid[])', [known]).select('*') : [];
  const before = new Map<string, Task>(rows.map((r) => [r.id, rowToTask(r)]));
  const states = new Map<string, TaskState>([...firstVersion.keys()].map((id) => {
    const task = before.get(id);
    return [id, task ? { kind: 'active', task } : { kind: 'missing' }];
  }));

  for (const event of events) {
    const id = taskIdOf(event);
    const state = states.get(id)!;
    // Already reflected (a replayed batch): the row carries the version of its last event.
    if (state.kind !== 'missing' && state.task.version >= event.streamVersion) continue;
    states.set(id, evolve(state, asStamped<TaskEvent>(event)));
  }

  const upserts: TaskRow[] = [];
  const deletes: string[] = [];
  const stats = new Map<string, StatsDelta>();
  const addStats = (userId: string, delta: StatsDelta) => {
    const current = stats.get(userId) ?? { total: 0, pending: 0, in_progress: 0, completed: 0, high_priority: 0, overdue: 0 };
    for (const key of Object.keys(delta) as (keyof StatsDelta)[]) current[key] += delta[key];
    stats.set(userId, current);
  };

  const scopes = new Set<string>();
  for (const [id, state] of states) {
    const old = before.get(id);
    if (state.kind === 'missing') continue;
    if (old && state.task.version === old.version) continue;
    scopes.add(taskScope(id)).add(ownerScope(state.task.userId)).add(ownerScope(null));
    if (old) scopes.add(ownerScope(old.userId));
    if (old) addStats(old.userId, contribution(old, -1));
    if (state.kind === 'active') {
      upserts.push(taskToRow(state.task));
      addStats(state.task.userId, contribution(state.task, 1));
    } else if (old) deletes.push(id);
  }

  if (!scopes.size) return NOTHING_TO_WRITE;
  // `json` parses faster than `jsonb`; rows, deletions and counters are different rows.
  const statements: Statement[] = [];
  if (upserts.length)
    statements.push({
      sql: `INSERT INTO ?? SELECT * FROM json_populate_recordset(NULL::??, ?::json) WHERE ${WHEN_CHECKPOINT_MOVED}
        ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, title = excluded.title,
          description = excluded.description, status = excluded.status, priority = excluded.priority,
          priority_rank = excluded.priority_rank, due_date = excluded.due_date, is_overdue = excluded.is_overdue,
          version = excluded.version, created_at = excluded.created_at, updated_at = excluded.updated_at`,
      bindings: [tables.tasks, tables.tasks, JSON.stringify(upserts)],
    });
  if (deletes.length)
    statements.push({ sql: `DELETE FROM ?? WHERE id = ANY(?::uuid[]) AND ${WHEN_CHECKPOINT_MOVED}`, bindings: [tables.tasks, deletes] });
  statements.push({
    sql: `INSERT INTO ?? AS s SELECT * FROM json_populate_recordset(NULL::??, ?::json) WHERE ${WHEN_CHECKPOINT_MOVED}
      ON CONFLICT (user_id) DO UPDATE SET total = s.total + excluded.total, pending = s.pending + excluded.pending,
        in_progress = s.in_progress + excluded.in_progress, completed = s.completed + excluded.completed,
        high_priority = s.high_priority + excluded.high_priority, overdue = s.overdue + excluded.overdue`,
    bindings: [tables.stats, tables.stats, JSON.stringify([...stats].map(([user_id, delta]) => ({ user_id, ...delta })))],
  });
  return { statements, scopes: [...scopes] };
};

/** The tasks read model over the given tables (a rebuild writes shadow copies of the live ones). */
export const tasksProjectionFor = (tables: TasksTables): Projection => ({
  name: 'tasks',
  tables: [tables.tasks, tables.stats],
  handles: new Set<string>(TASK_EVENT_TYPES),
  prepare: (knex, events) => prepareTaskEvents(tables, knex, events),
});

export const tasksProjection: Projection = tasksProjectionFor({ tasks: TASKS_TABLE, stats: TASK_STATS_TABLE });
