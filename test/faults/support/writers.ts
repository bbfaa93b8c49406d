import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { isOk, versionOf, type Answer, type Recorder, type RequestSpec, type User } from './client.js';

export type WriteKind = 'create' | 'patch' | 'delete' | 'batch-complete' | 'batch-delete';

/** One logical write: every attempt of it carries the same X-Correlation-Id (and Idempotency-Key). */
export type WriteRecord = {
  readonly cid: string;
  readonly kind: WriteKind;
  readonly userId: string;
  readonly key: string | null;
  attempts: number;
  /** The last answer's status (0: none); `gaveUp` when retries ran out on a failure. */
  status: number;
  gaveUp: boolean;
  taskId: string | null;
  /** The version in the ETag of a 2xx create or PATCH. */
  version: number | null;
  results: readonly { taskId: string; success: boolean }[] | null;
};

export type WriterOptions = Readonly<{
  recorder: Recorder;
  base: string;
  users: readonly User[];
  writers?: number;
  thinkMs?: number;
  /** Share of writes sent with an Idempotency-Key (and retried after a failure). */
  idempotentShare?: number;
  /** Due date of a new task; by default none or some weeks ahead. */
  dueDate?: () => string | null;
}>;

type OwnTask = { id: string; version: number | null; completeTried: boolean };

const RETRY_FOR_MS = 30_000;
const PRIORITIES = ['LOW', 'MEDIUM', 'HIGH'] as const;
const pick = <T>(items: readonly T[]) => items[Math.floor(Math.random() * items.length)]!;
const futureDate = () => (Math.random() < 0.5 ? null : new Date(Date.now() + (7 + Math.random() * 60) * 86_400_000).toISOString());

/** A failure after which the same key and body may be sent again: no answer, a 5xx, or a key still claimed. */
const retryable = (a: Answer) => a.status === 0 || a.status >= 500 || (a.status === 409 && a.sample.code === 'IDEMPOTENCY_IN_PROGRESS');

/**
 * 8 concurrent writers (two per user with four users) doing create / PATCH (with and without
 * If-Match) / DELETE / batch on tasks of their own, some with an Idempotency-Key. Each writer
 * owns its tasks, so what a 2xx must have changed in the log is known exactly.
 */
export const startWriters = (options: WriterOptions) => {
  const { recorder, base, users } = options;
  const run = randomBytes(3).toString('hex');
  const records: WriteRecord[] = [];
  /** Task ids each user's writers created, for readers. */
  const createdBy = new Map<string, string[]>(users.map((u) => [u.id, []]));
  let stopping = false;

  const attempt = async (record: WriteRecord, spec: RequestSpec): Promise<Answer> => {
    const headers = { 'x-correlation-id': record.cid, ...(record.key ? { 'idempotency-key': record.key } : {}), ...spec.headers };
    const first = performance.now();
    for (let n = 0; ; n++) {
      record.attempts++;
      const answer = await recorder.send(base, { ...spec, headers, kind: 'write' });
      record.status = answer.status;
      if (!record.key || !retryable(answer)) return answer;
      if (performance.now() - first > RETRY_FOR_MS) {
        record.gaveUp = true;
        return answer;
      }
      await sleep(Math.min(200 * 2 ** n, 2000));
    }
  };

  const writer = async (index: number) => {
    const user = users[index % users.length]!;
    const tasks: OwnTask[] = [];
    const think = options.thinkMs ?? 25;
    for (let seq = 0; !stopping; seq++) {
      const cid = `fw${index}-${run}-${seq}`;
      const key = Math.random() < (options.idempotentShare ?? 0.4) ? `fk-${cid}` : null;
      const r = Math.random();
      const kind: WriteKind = tasks.length === 0 || r < 0.3 ? 'create' : r < 0.65 ? 'patch' : r < 0.77 ? 'delete' : Math.random() < 0.5 ? 'batch-complete' : 'batch-delete';
      const record: WriteRecord = { cid, kind, userId: user.id, key, attempts: 0, status: 0, gaveUp: false, taskId: null, version: null, results: null };
      records.push(record);
      const ifMatch = (task: OwnTask): Record<string, string> => (task.version !== null && Math.random() < 0.5 ? { 'if-match': `"${task.version}"` } : {});

      if (kind === 'create') {
        const body = { title: `${cid} created`, priority: pick(PRIORITIES), dueDate: (options.dueDate ?? futureDate)() };
        const a = await attempt(record, { method: 'POST', path: '/tasks', token: user.token, body, op: 'create' });
        if (a.status === 201) {
          record.taskId = a.body.id;
          record.version = versionOf(a);
          tasks.push({ id: a.body.id, version: record.version, completeTried: false });
          createdBy.get(user.id)!.push(a.body.id);
        }
      } else if (kind === 'patch') {
        const task = pick(tasks);
        record.taskId = task.id;
        const a = await attempt(record, { method: 'PATCH', path: `/tasks/${task.id}`, token: user.token, body: { title: `${cid} patched` }, headers: ifMatch(task), op: 'patch' });
        record.version = a.status === 200 ? versionOf(a) : null;
        task.version = record.version;
        if (a.status === 404) tasks.splice(tasks.indexOf(task), 1);
      } else if (kind === 'delete') {
        const task = pick(tasks);
        record.taskId = task.id;
        tasks.splice(tasks.indexOf(task), 1);
        await attempt(record, { method: 'DELETE', path: `/tasks/${task.id}`, token: user.token, headers: ifMatch(task), op: 'delete' });
      } else {
        const action = kind === 'batch-complete' ? 'complete' : 'delete';
        // A task is completed at most once: a second complete would rightly append nothing.
        const candidates = tasks.filter((t) => action === 'delete' || !t.completeTried).slice(0, 3);
        if (candidates.length === 0) {
          records.pop();
          continue;
        }
        for (const t of candidates) {
          t.completeTried = true;
          t.version = null;
          if (action === 'delete') tasks.splice(tasks.indexOf(t), 1);
        }
        const a = await attempt(record, { method: 'POST', path: '/tasks/batch', token: user.token, body: { tasks: candidates.map((t) => t.id), action }, op: kind });
        if (a.status === 200) record.results = a.body.results.map((x: { taskId: string; success: boolean }) => ({ taskId: x.taskId, success: x.success }));
      }
      // A failing service is not hammered in a tight loop.
      await sleep(isOk(record.status) ? think : think * 4);
    }
  };

  const running = Array.from({ length: options.writers ?? 8 }, (_, i) => writer(i));
  return {
    records,
    createdBy,
    /** Lets each writer finish the write it is in (retries included), then resolves. */
    stop: async () => {
      stopping = true;
      await Promise.all(running);
    },
  };
};
export type Writers = ReturnType<typeof startWriters>;
