import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { SYSTEM } from '../domain/actor.js';
import type { Logger } from '../infra/logger.js';
import type { Lease } from '../infra/lock/lock.js';
import { TASKS_TABLE } from '../projections/tasks.js';
import type { TaskCommands } from './tasks.js';

const BATCH = 1000;

/**
 * One run of the overdue check, by the holder of its lock: the read model proposes candidates,
 * and each MarkTaskOverdue is decided on the task's own stream, so a stale candidate, a retried
 * run or a second instance never emits a second TaskMarkedOverdue for the same overdue period.
 */
export const runOverdueCheck = async (
  deps: { knex: Knex; tasks: TaskCommands; now: () => Date; logger: Logger },
  lease: Pick<Lease, 'name' | 'fencingToken' | 'lost'>,
) => {
  const now = deps.now().toISOString();
  const correlationId = `overdue-check:${randomUUID()}`;
  const candidates: string[] = await deps.knex(TASKS_TABLE)
    .where('is_overdue', false)
    .whereNot('status', 'COMPLETED')
    .where('due_date', '<', now)
    .orderBy('due_date')
    .limit(BATCH)
    .pluck('id');
  let marked = 0;
  for (const taskId of candidates) {
    // A holder that lost its lease stops at once.
    if (lease.lost.aborted) break;
    const result = await deps.tasks.markOverdue(taskId, {
      context: { now, actor: SYSTEM },
      correlationId,
      fencing: { lock: lease.name, token: lease.fencingToken.toString() },
    });
    if (result.events.length) marked++;
  }
  if (candidates.length) deps.logger.info('overdue check', { candidates: candidates.length, marked, correlationId });
  return { candidates: candidates.length, marked };
};
