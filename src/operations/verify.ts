import type { Knex } from 'knex';
import { compareLogPositions, LOG_START, asStamped, type LogPosition, type RecordedEvent } from '../domain/event.js';
import { TASK_EVENT_TYPES, type TaskEvent } from '../domain/task/events.js';
import { evolve, type TaskState } from '../domain/task/state.js';
import { USER_EVENT_TYPES, type UserRegistered, type UserRoleChanged } from '../domain/user/events.js';
import type { EventStore } from '../infra/eventstore/eventStore.js';
import { findCheckpointDetails, formatPosition } from '../projections/checkpoints.js';
import { compareCounts, countEvents, readConsumedCounts, type BucketCounts, type CountComparison } from '../projections/completeness.js';
import { readParkedEvents, type ParkedEvent } from '../projections/failures.js';
import { contribution, TASK_STATS_TABLE, TASKS_TABLE, taskIdOf, taskToRow, type StatsDelta, type TaskRow } from '../projections/tasks.js';
import { USERS_TABLE } from '../projections/users.js';
import { READ_MODELS, readModelNamed } from './projections.js';
import { parkedStatus, type ParkedStatus } from './status.js';

const LOG_BATCH = 10_000;
/** Differences listed per read model; the count is always exact. */
const MAX_LISTED = 1000;

export type Difference = Readonly<{
  table: string;
  /** The row's key (task id, owner id, user id). */
  id: string;
  kind: 'missing' | 'extra' | 'different';
  field?: string;
  expected?: unknown;
  actual?: unknown;
}>;

export type VerifyReport = Readonly<{
  projection: string;
  /** The read model was compared with the log folded up to its own checkpoint. */
  checkpoint: string;
  events: number;
  /** Rows compared, per table. */
  rows: Readonly<Record<string, number>>;
  differenceCount: number;
  differences: readonly Difference[];
  /** Events an operator parked: left out of the fold, so they are no difference. */
  parked: readonly ParkedStatus[];
  /** The events the projection counted as consumed against the log, bucket by bucket. */
  completeness: CountComparison;
}>;

type Row = Record<string, unknown>;
type Snapshot = Readonly<{
  checkpoint: LogPosition;
  countedAfter: LogPosition;
  consumed: BucketCounts;
  parked: readonly ParkedEvent[];
  tables: Record<string, Row[]>;
}>;

const TABLES: Record<string, readonly string[]> = { tasks: [TASKS_TABLE, TASK_STATS_TABLE], users: [USERS_TABLE] };
const KEYS: Record<string, string> = { [TASKS_TABLE]: 'id', [TASK_STATS_TABLE]: 'user_id', [USERS_TABLE]: 'id' };
const TIMES = new Set(['due_date', 'created_at', 'updated_at']);
const ZERO_STATS: StatsDelta = { total: 0, pending: 0, in_progress: 0, completed: 0, high_priority: 0, overdue: 0 };

/** Every read model with its checkpoint and counts in one snapshot: a projection commits them together. */
const readSnapshots = (knex: Knex, names: readonly string[]) =>
  knex.transaction(
    async (trx) => {
      const snapshots = new Map<string, Snapshot>();
      const parked = await readParkedEvents(trx);
      for (const name of names) {
        const details = await findCheckpointDetails(trx, name);
        const tables: Record<string, Row[]> = {};
        for (const table of TABLES[name]!) tables[table] = await trx(table).select('*');
        snapshots.set(name, {
          checkpoint: details?.position ?? LOG_START,
          countedAfter: details?.countedAfter ?? LOG_START,
          consumed: await readConsumedCounts(trx, name),
          parked: parked.get(name) ?? [],
          tables,
        });
      }
      return snapshots;
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );

const display = (field: string, value: unknown) =>
  value instanceof Date || (TIMES.has(field) && typeof value === 'string') ? new Date(value as string).toISOString() : value;
const same = (field: string, a: unknown, b: unknown) =>
  TIMES.has(field) && a != null && b != null ? new Date(a as string).getTime() === new Date(b as string).getTime() : a === b;

/** Row-by-row comparison of expected rows (from the log) with actual ones, on the given fields. */
const compareRows = (table: string, fields: readonly string[], expected: Map<string, Row>, actual: readonly Row[], optional?: (row: Row) => boolean) => {
  const differences: Difference[] = [];
  const seen = new Set<string>();
  for (const row of actual) {
    const id = String(row[KEYS[table]!]);
    seen.add(id);
    const want = expected.get(id);
    if (!want) {
      if (!optional?.(row)) differences.push({ table, id, kind: 'extra' });
      continue;
    }
    for (const field of fields)
      if (!same(field, want[field], row[field]))
        differences.push({ table, id, kind: 'different', field, expected: display(field, want[field]), actual: display(field, row[field]) });
  }
  for (const [id, want] of expected) if (!seen.has(id) && !optional?.(want)) differences.push({ table, id, kind: 'missing' });
  return differences;
};

const TASK_FIELDS = [
  'id', 'user_id', 'title', 'description', 'status', 'priority', 'priority_rank', 'due_date', 'is_overdue', 'version', 'created_at', 'updated_at',
] as const satisfies readonly (keyof TaskRow)[];
const USER_FIELDS = ['id', 'email', 'name', 'role'] as const;

/** Folds one read model's events in memory, then lists how its tables differ from the fold. */
type Fold = Readonly<{ handles: ReadonlySet<string>; add: (event: RecordedEvent) => void; compare: (snapshot: Snapshot) => Difference[] }>;

const tasksFold = (): Fold => {
  const states = new Map<string, TaskState>();
  return {
    handles: new Set<string>(TASK_EVENT_TYPES),
    add(event) {
      const id = taskIdOf(event);
      states.set(id, evolve(states.get(id) ?? { kind: 'missing' }, asStamped<TaskEvent>(event)));
    },
    compare(snapshot) {
      const tasks = new Map<string, Row>();
      const stats = new Map<string, StatsDelta & { user_id: string }>();
      for (const [id, state] of states) {
        if (state.kind !== 'active') continue;
        tasks.set(id, taskToRow(state.task));
        const owner = stats.get(state.task.userId) ?? { user_id: state.task.userId, ...ZERO_STATS };
        const add = contribution(state.task, 1);
        for (const key of Object.keys(ZERO_STATS) as (keyof StatsDelta)[]) owner[key] += add[key];
        stats.set(state.task.userId, owner);
      }
      // Owners whose tasks are all gone keep a row of zeros: that is no difference.
      const allZero = (row: Row) => Object.keys(ZERO_STATS).every((k) => Number(row[k]) === 0);
      return [
        ...compareRows(TASKS_TABLE, TASK_FIELDS, tasks, snapshot.tables[TASKS_TABLE]!),
        ...compareRows(TASK_STATS_TABLE, Object.keys(ZERO_STATS), stats, snapshot.tables[TASK_STATS_TABLE]!, allZero),
      ];
    },
  };
};

const usersFold = (): Fold => {
  const users = new Map<string, Row>();
  return {
    handles: new Set(USER_EVENT_TYPES),
    add(recorded) {
      const event = recorded as unknown as UserRegistered | UserRoleChanged;
      if (event.type === 'UserRegistered') users.set(event.data.userId, { id: event.data.userId, email: event.data.email, name: event.data.name, role: 'user' });
      else if (users.has(event.data.userId)) users.set(event.data.userId, { ...users.get(event.data.userId), role: event.data.to });
    },
    compare: (snapshot) => compareRows(USERS_TABLE, USER_FIELDS, users, snapshot.tables[USERS_TABLE]!),
  };
};

const FOLDS: Record<string, () => Fold> = { tasks: tasksFold, users: usersFold };

/**
 * Folds every task and user stream from the log, up to each read model's checkpoint and without
 * the events an operator parked, and compares the result with the read model row by row; counts
 * the log per bucket on the way and compares that with what the model says it consumed. No
 * difference and matching counts mean the model is exact.
 */
export const verifyReadModels = async (deps: { knex: Knex; eventStore: EventStore }, options: { projection?: string } = {}): Promise<VerifyReport[]> => {
  const names = options.projection ? [readModelNamed(options.projection).name] : READ_MODELS.map((m) => m.name);
  const snapshots = await readSnapshots(deps.knex, names);
  const until = [...snapshots.values()].map((s) => s.checkpoint).reduce((a, b) => (compareLogPositions(a, b) >= 0 ? a : b), LOG_START);

  const folds = new Map(names.map((n) => [n, FOLDS[n]!()]));
  const counted = new Map(names.map((n) => [n, 0]));
  const logged = new Map<string, BucketCounts>(names.map((n) => [n, new Map()]));
  const parkedIds = new Map(names.map((n) => [n, new Set(snapshots.get(n)!.parked.map((p) => p.eventId))]));
  let after = LOG_START;
  while (compareLogPositions(after, until) < 0) {
    const { events } = await deps.eventStore.readAll({ after, limit: LOG_BATCH });
    if (events.length === 0) break;
    for (const event of events)
      for (const name of names) {
        const snapshot = snapshots.get(name)!;
        if (compareLogPositions(event.position, snapshot.checkpoint) > 0) continue;
        counted.set(name, counted.get(name)! + 1);
        if (compareLogPositions(event.position, snapshot.countedAfter) > 0) countEvents([event], logged.get(name));
        const fold = folds.get(name)!;
        if (fold.handles.has(event.type) && !parkedIds.get(name)!.has(event.metadata.eventId)) fold.add(event);
      }
    after = events.at(-1)!.position;
  }

  return names.map((name) => {
    const snapshot = snapshots.get(name)!;
    const differences = folds.get(name)!.compare(snapshot);
    return {
      projection: name,
      checkpoint: formatPosition(snapshot.checkpoint),
      events: counted.get(name)!,
      rows: Object.fromEntries(Object.entries(snapshot.tables).map(([table, rows]) => [table, rows.length])),
      differenceCount: differences.length,
      differences: differences.slice(0, MAX_LISTED),
      parked: snapshot.parked.map(parkedStatus),
      completeness: compareCounts(snapshot.consumed, logged.get(name)!),
    };
  });
};

/** No difference, and the counts match the log (parked events are reported, not differences). */
export const verifiedClean = (report: VerifyReport) => report.differenceCount === 0 && report.completeness.missing === 0 && report.completeness.doubled === 0;
