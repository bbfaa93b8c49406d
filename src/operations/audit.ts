import type { Knex } from 'knex';
import { SYSTEM } from '../domain/actor.js';
import { NotFoundError } from '../domain/errors.js';
import { asStamped } from '../domain/event.js';
import { taskStreamId, type TaskEvent } from '../domain/task/events.js';
import { evolve, initialState, type Task, type TaskState } from '../domain/task/state.js';
import type { EventStore } from '../infra/eventstore/eventStore.js';
import { USERS_TABLE } from '../projections/users.js';
import { findUserInLog } from '../queries/credentials.js';
import { getTaskAt, type TaskPointInTime } from '../queries/taskHistory.js';

// What auditors ask of the log: a task as it was, and who changed what, when. Both fold the
// task's own stream; nothing here reads the tasks read model.

export type AuditDeps = Readonly<{ knex: Knex; eventStore: EventStore }>;

const taskNotFound = (taskId: string) => new NotFoundError(`Task ${taskId} not found`, 'TASK_NOT_FOUND');

/** The task folded from its stream up to a version or a moment (the latest when neither is given). */
export const replayTask = async (eventStore: EventStore, taskId: string, at: TaskPointInTime): Promise<Task> => {
  if ((await eventStore.readStream(taskStreamId(taskId), { toVersion: 1 })).length === 0) throw taskNotFound(taskId);
  return getTaskAt(eventStore, SYSTEM, taskId, at);
};

export const AUDITED_FIELDS = ['title', 'description', 'status', 'priority', 'dueDate', 'userId', 'isOverdue'] as const;
type AuditedField = (typeof AUDITED_FIELDS)[number] | 'deleted';

export type FieldChange = Readonly<{ field: AuditedField; before: unknown; after: unknown }>;

export type AuditEntry = Readonly<{
  version: number;
  occurredAt: string;
  /** A user id, or `system`; the e-mail when the user is known. */
  actor: Readonly<{ id: string; email: string | null }>;
  type: string;
  correlationId: string;
  changes: readonly FieldChange[];
}>;

const changesBetween = (before: TaskState, after: TaskState): FieldChange[] => {
  const was = before.kind === 'missing' ? null : before.task;
  const is = after.kind === 'missing' ? null : after.task;
  const changes: FieldChange[] = AUDITED_FIELDS.filter((field) => was?.[field] !== is?.[field]).map((field) => ({
    field,
    before: was ? was[field] : null,
    after: is ? is[field] : null,
  }));
  if (before.kind !== 'deleted' && after.kind === 'deleted') changes.push({ field: 'deleted', before: false, after: true });
  return changes;
};

/** E-mails of the acting users: from the users read model, or the log for anyone it does not have yet. */
const emailsOf = async ({ knex, eventStore }: AuditDeps, ids: readonly string[]) => {
  const users = ids.filter((id) => id !== SYSTEM.kind);
  const rows = users.length ? await knex(USERS_TABLE).whereIn('id', users).select<{ id: string; email: string }[]>('id', 'email') : [];
  const emails = new Map(rows.map((r) => [r.id, r.email]));
  for (const id of users.filter((u) => !emails.has(u))) {
    const user = await findUserInLog(eventStore, id).catch(() => null);
    if (user) emails.set(id, user.email);
  }
  return emails;
};

/** Every event of the task with its actor and each field's value before and after it. */
export const taskAuditTrail = async (deps: AuditDeps, taskId: string): Promise<AuditEntry[]> => {
  const events = await deps.eventStore.readStream(taskStreamId(taskId));
  if (events.length === 0) throw taskNotFound(taskId);
  const emails = await emailsOf(deps, [...new Set(events.map((e) => e.metadata.actor))]);
  let state = initialState();
  return events.map((event) => {
    const next = evolve(state, asStamped<TaskEvent>(event));
    const entry: AuditEntry = {
      version: event.streamVersion,
      occurredAt: event.metadata.occurredAt,
      actor: { id: event.metadata.actor, email: emails.get(event.metadata.actor) ?? null },
      type: event.type,
      correlationId: event.metadata.correlationId,
      changes: changesBetween(state, next),
    };
    state = next;
    return entry;
  });
};
