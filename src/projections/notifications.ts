import type { TaskMarkedOverdue } from '../domain/task/events.js';
import type { Projection } from './projection.js';

export const NOTIFICATIONS_TABLE = 'notifications';

export type NotificationRow = { id: string; user_id: string; type: string; task_id: string; created_at: Date | string };

/**
 * One notification per TaskMarkedOverdue, for the task's owner, keyed by the event id so a
 * replay cannot duplicate it. (With the job queue, delivery moves behind a BullMQ worker.)
 */
export const notificationsProjection: Projection = {
  name: 'notifications',
  tables: [NOTIFICATIONS_TABLE],
  handles: new Set(['TaskMarkedOverdue']),
  apply: async (trx, events) => {
    const rows = events.map((event) => ({
      id: event.metadata.eventId,
      user_id: (event.data as TaskMarkedOverdue['data']).userId,
      type: 'TASK_OVERDUE',
      task_id: event.streamId.slice('task-'.length),
      created_at: event.metadata.occurredAt,
    }));
    await trx(NOTIFICATIONS_TABLE).insert(rows).onConflict('id').ignore();
  },
};
