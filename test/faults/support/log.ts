import type pg from 'pg';
import { isOk } from './client.js';
import type { WriteRecord } from './writers.js';

export type LogEvent = Readonly<{ stream: string; version: number; type: string; cid: string | null; causation: string | null; data: Record<string, unknown> }>;

/** A task as the log says it is now: what every instance must answer once settled. */
export type ExpectedTask = Readonly<{ id: string; ownerId: string; version: number; deleted: boolean }>;

const taskStream = (id: string) => `task-${id}`;

export const readLog = async (pool: pg.Pool): Promise<LogEvent[]> =>
  (
    await pool.query(
      `SELECT stream_id AS stream, stream_version AS version, type, metadata->>'correlationId' AS cid,
              metadata->>'causationId' AS causation, data
       FROM events ORDER BY global_position`,
    )
  ).rows;

/** Folds what the checks need from each task stream: owner, last version, deleted or not. */
export const expectedTasks = (events: readonly LogEvent[]): Map<string, ExpectedTask> => {
  const tasks = new Map<string, { id: string; ownerId: string; version: number; deleted: boolean }>();
  for (const e of events) {
    if (!e.stream.startsWith('task-')) continue;
    const id = e.stream.slice('task-'.length);
    if (e.type === 'TaskCreated') tasks.set(id, { id, ownerId: String(e.data.userId), version: e.version, deleted: false });
    const task = tasks.get(id);
    if (!task) continue;
    task.version = Math.max(task.version, e.version);
    if (e.type === 'TaskDeleted') task.deleted = true;
    if (e.type === 'TaskReassigned') task.ownerId = String(e.data.toUserId);
  }
  return tasks;
};

/** What a 2xx write must have left in the log; a description of each one that is not there. */
const missingFrom = (byCid: ReadonlyMap<string, readonly LogEvent[]>) => (w: WriteRecord): string[] => {
  const mine = byCid.get(w.cid) ?? [];
  const has = (stream: string, test: (e: LogEvent) => boolean) => mine.some((e) => e.stream === stream && test(e));
  const where = `${w.kind} ${w.cid} (${w.status}${w.key ? ', idempotent' : ''}, ${w.attempts} attempt(s))`;
  switch (w.kind) {
    case 'create':
      return has(taskStream(w.taskId!), (e) => e.type === 'TaskCreated' && e.version === 1) ? [] : [`${where}: no TaskCreated for ${w.taskId}`];
    case 'patch':
      return has(taskStream(w.taskId!), (e) => e.version === w.version) ? [] : [`${where}: no event at version ${w.version} of ${w.taskId}`];
    case 'delete':
      return has(taskStream(w.taskId!), (e) => e.type === 'TaskDeleted') ? [] : [`${where}: no TaskDeleted for ${w.taskId}`];
    default: {
      const type = w.kind === 'batch-complete' ? 'TaskStatusChanged' : 'TaskDeleted';
      return (w.results ?? [])
        .filter((r) => r.success && !has(taskStream(r.taskId), (e) => e.type === type))
        .map((r) => `${where}: no ${type} for ${r.taskId}`);
    }
  }
};

/**
 * Lost: a 2xx write whose events are not in the log. Doubled: one logical write (one correlation
 * id, retries included) that ran its command twice on a stream, created two tasks, or a task
 * marked overdue twice.
 */
export const checkWrites = (events: readonly LogEvent[], records: readonly WriteRecord[]) => {
  const byCid = new Map<string, LogEvent[]>();
  for (const e of events) if (e.cid) byCid.set(e.cid, [...(byCid.get(e.cid) ?? []), e]);
  const lost = records.filter((w) => isOk(w.status)).flatMap(missingFrom(byCid));

  const doubled: string[] = [];
  for (const w of records) {
    const mine = byCid.get(w.cid) ?? [];
    const created = mine.filter((e) => e.type === 'TaskCreated');
    if (created.length > 1) doubled.push(`${w.kind} ${w.cid}: ${created.length} TaskCreated (${created.map((e) => e.stream).join(', ')})`);
    const commandsPerStream = new Map<string, Set<string | null>>();
    for (const e of mine) commandsPerStream.set(e.stream, (commandsPerStream.get(e.stream) ?? new Set()).add(e.causation));
    for (const [stream, commands] of commandsPerStream)
      if (commands.size > 1) doubled.push(`${w.kind} ${w.cid}: its command ran ${commands.size} times on ${stream}`);
  }
  const overdue = new Map<string, number>();
  for (const e of events) if (e.type === 'TaskMarkedOverdue') overdue.set(e.stream, (overdue.get(e.stream) ?? 0) + 1);
  for (const [stream, count] of overdue) if (count > 1) doubled.push(`${stream}: ${count} TaskMarkedOverdue`);

  return { lost, doubled, acknowledged: records.filter((w) => isOk(w.status)).length };
};
