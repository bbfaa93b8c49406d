import type { Knex } from 'knex';
import type { TaskMarkedOverdue } from '../domain/task/events.js';
import type { JobQueue } from '../infra/queue/jobQueue.js';
import type { Logger } from '../infra/logger.js';
import { NOTHING_TO_WRITE, type Projection } from '../projections/projection.js';
import { taskIdOf } from '../projections/tasks.js';
import { inSpan, linksTo } from '../infra/tracing.js';

export const NOTIFICATIONS_TABLE = 'notifications';
export const OVERDUE_NOTIFICATION_JOB = 'overdue-task-notification';

export type NotificationRow = { id: string; user_id: string; type: string; task_id: string; created_at: Date | string };

export type OverdueNotificationJob = Readonly<{
  eventId: string;
  taskId: string;
  userId: string;
  dueDate: string;
  occurredAt: string;
  correlationId: string;
  /** The trace of the request that led to the event, so the job's span links to it. */
  traceparent?: string;
}>;

/**
 * A checkpointed subscription that turns each TaskMarkedOverdue into one job, with the event id
 * as the job id: replaying a batch after a crash adds nothing BullMQ does not already have.
 */
export const overdueNotificationJobs = (queue: JobQueue<OverdueNotificationJob>): Projection => ({
  name: 'notification-jobs',
  tables: [],
  handles: new Set(['TaskMarkedOverdue']),
  prepare: async (_knex, events) => {
    await queue.enqueue(
      events.map((event) => {
        const data = event.data as TaskMarkedOverdue['data'];
        return {
          id: event.metadata.eventId,
          data: {
            eventId: event.metadata.eventId,
            taskId: taskIdOf(event),
            userId: data.userId,
            dueDate: data.dueDate,
            occurredAt: event.metadata.occurredAt,
            correlationId: event.metadata.correlationId,
            ...(event.metadata.traceparent ? { traceparent: event.metadata.traceparent } : {}),
          },
        };
      }),
    );
    return NOTHING_TO_WRITE;
  },
});

/**
 * The job's worker: records the owner's notification (keyed by the event id, so a retried job
 * writes it once) and, when configured, posts it to a webhook; a failure is retried with backoff.
 */
export const deliverOverdueNotification =
  (deps: { knex: Knex; webhookUrl: string | null; logger: Logger }) => (job: OverdueNotificationJob) =>
    inSpan(`job ${OVERDUE_NOTIFICATION_JOB}`, { links: linksTo([job.traceparent]), attributes: { 'taskflow.event_id': job.eventId } }, () => deliver(deps, job));

const deliver = async (deps: { knex: Knex; webhookUrl: string | null; logger: Logger }, job: OverdueNotificationJob) => {
  await deps.knex<NotificationRow>(NOTIFICATIONS_TABLE)
    .insert({ id: job.eventId, user_id: job.userId, type: 'TASK_OVERDUE', task_id: job.taskId, created_at: job.occurredAt })
    .onConflict('id')
    .ignore();
  if (deps.webhookUrl) {
    const response = await fetch(deps.webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-correlation-id': job.correlationId, 'idempotency-key': job.eventId },
      body: JSON.stringify({ type: 'TASK_OVERDUE', ...job }),
      signal: AbortSignal.timeout(5000),
    });
    if (!response.ok) throw new Error(`webhook answered ${response.status}`);
  }
  deps.logger.info('notification delivered', { eventId: job.eventId, taskId: job.taskId, correlationId: job.correlationId });
};
