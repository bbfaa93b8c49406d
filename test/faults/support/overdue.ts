import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { versionOf, type Recorder, type User } from './client.js';
import type { WriteRecord } from './writers.js';

/** Creates tasks due in the past, one every `everyMs`, spread over the users: each must be marked overdue exactly once. */
export const startOverdueWriter = (recorder: Recorder, base: string, users: readonly User[], everyMs = 250) => {
  const run = randomBytes(3).toString('hex');
  const records: WriteRecord[] = [];
  let stopping = false;
  const loop = (async () => {
    for (let seq = 0; !stopping; seq++) {
      const user = users[seq % users.length]!;
      const cid = `fo-${run}-${seq}`;
      const record: WriteRecord = { cid, kind: 'create', userId: user.id, key: null, attempts: 1, status: 0, gaveUp: false, taskId: null, version: null, results: null };
      records.push(record);
      const dueDate = new Date(Date.now() - 3600_000 * (1 + Math.random() * 48)).toISOString();
      const a = await recorder.send(base, { method: 'POST', path: '/tasks', token: user.token, body: { title: `${cid} late`, dueDate }, headers: { 'x-correlation-id': cid }, kind: 'write', op: 'create past-due' });
      record.status = a.status;
      if (a.status === 201) {
        record.taskId = a.body.id;
        record.version = versionOf(a);
      }
      await sleep(everyMs);
    }
  })();
  return {
    records,
    stop: async () => {
      stopping = true;
      await loop;
    },
  };
};

/** TaskMarkedOverdue events and notification rows of each task. */
export const overdueCounts = async (pool: pg.Pool, taskIds: readonly string[]) => {
  const { rows } = await pool.query<{ id: string; marks: number; notifications: number }>(
    `SELECT t.id,
            (SELECT count(*)::int FROM events e WHERE e.stream_id = 'task-' || t.id AND e.type = 'TaskMarkedOverdue') AS marks,
            (SELECT count(*)::int FROM notifications n WHERE n.task_id = t.id::uuid) AS notifications
     FROM unnest($1::text[]) AS t(id)`,
    [taskIds],
  );
  return rows;
};
