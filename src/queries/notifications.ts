import type { Knex } from 'knex';
import { NOTIFICATIONS_TABLE, type NotificationRow } from '../notifications/overdueNotifications.js';
import { pageOf, type Page } from './tasks.js';

export type NotificationView = Readonly<{ id: string; type: string; taskId: string; createdAt: string }>;

export const listNotifications = async (
  knex: Knex,
  userId: string,
  { page, limit }: { page: number; limit: number },
): Promise<Page<NotificationView>> => {
  const mine = () => knex<NotificationRow>(NOTIFICATIONS_TABLE).where({ user_id: userId });
  const [rows, [{ count }]] = await Promise.all([
    mine().select('*').orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit).offset((page - 1) * limit),
    mine().count<{ count: string }[]>({ count: '*' }),
  ]);
  const total = Number(count);
  return pageOf(
    (rows as NotificationRow[]).map((r) => ({ id: r.id, type: r.type, taskId: r.task_id, createdAt: new Date(r.created_at).toISOString() })),
    total,
    page,
    limit,
  );
};
