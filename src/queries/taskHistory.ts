import { isPrivileged, type Actor } from '../domain/actor.js';
import { NotFoundError } from '../domain/errors.js';
import { foldRecorded, type RecordedEvent } from '../domain/event.js';
import { taskStreamId, type TaskEvent } from '../domain/task/events.js';
import { evolve, initialState, type Task, type TaskState } from '../domain/task/state.js';
import type { EventStore } from '../infra/eventstore/eventStore.js';

// Time travel and history fold the log on purpose: they answer what no read model keeps.

const notFound = () => new NotFoundError('Task not found', 'TASK_NOT_FOUND');

const fold = (events: readonly RecordedEvent[]): TaskState =>
  foldRecorded<TaskEvent, TaskState>(evolve, initialState(), events);

/** The task's events, if the actor owns it now (or owned it last, when deleted) or is an admin. */
const readVisibleStream = async (eventStore: EventStore, actor: Actor, taskId: string) => {
  const events = await eventStore.readStream(taskStreamId(taskId));
  const latest = fold(events);
  if (latest.kind === 'missing') throw notFound();
  if (!isPrivileged(actor) && !(actor.kind === 'user' && latest.task.userId === actor.userId)) throw notFound();
  return events;
};

export type TaskPointInTime = Readonly<{ version?: number; asOf?: string }>;

export const getTaskAt = async (eventStore: EventStore, actor: Actor, taskId: string, at: TaskPointInTime): Promise<Task> => {
  const events = await readVisibleStream(eventStore, actor, taskId);
  const upTo = events.filter(
    (e) =>
      (at.version === undefined || e.streamVersion <= at.version) &&
      (at.asOf === undefined || Date.parse(e.metadata.occurredAt) <= Date.parse(at.asOf)),
  );
  if (at.version !== undefined && upTo.length < at.version)
    throw new NotFoundError(`Task has no version ${at.version}`, 'VERSION_NOT_FOUND');
  const state = fold(upTo);
  if (state.kind === 'active') return state.task;
  throw state.kind === 'deleted'
    ? new NotFoundError('Task was deleted at that point', 'TASK_DELETED')
    : new NotFoundError('Task did not exist at that point', 'TASK_NOT_FOUND');
};

export type TaskHistoryEntry = Readonly<{
  version: number;
  type: string;
  data: Readonly<Record<string, unknown>>;
  occurredAt: string;
  actor: string;
  correlationId: string;
}>;

export const getTaskHistory = async (eventStore: EventStore, actor: Actor, taskId: string): Promise<TaskHistoryEntry[]> =>
  (await readVisibleStream(eventStore, actor, taskId)).map((e) => ({
    version: e.streamVersion,
    type: e.type,
    data: e.data,
    occurredAt: e.metadata.occurredAt,
    actor: e.metadata.actor,
    correlationId: e.metadata.correlationId,
  }));
