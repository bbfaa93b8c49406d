import { randomBytes } from 'node:crypto';
import { isOk, versionOf, type Answer, type Recorder, type User } from './client.js';
import type { WriteKind, WriteRecord } from './writers.js';

/** The response header of a 2xx command that a client may send back on its reads. */
export const CONSISTENCY_TOKEN = 'consistency-token';

export type PairResult = Readonly<{
  read: 'get' | 'list';
  write: WriteKind;
  /** Answered, but without the write just acknowledged. */
  stale: boolean;
  /** Not answered 200 (or the 404 a deleted task must give). */
  failed: boolean;
  sameInstance: boolean;
  detail: string;
}>;

type Expectation = Readonly<{ id: string; version: number | null; deleted: boolean }>;

/** Whether a read reflects the write, or why not. */
const judge = (read: 'get' | 'list', answer: Answer, expected: Expectation): { stale: boolean; failed: boolean; detail: string } => {
  if (read === 'get') {
    if (answer.status !== 200 && answer.status !== 404) return { stale: false, failed: true, detail: `GET answered ${answer.status} ${answer.sample.code ?? ''}` };
    const fresh = expected.deleted ? answer.status === 404 : answer.status === 200 && (versionOf(answer) ?? 0) >= expected.version!;
    return { stale: !fresh, failed: false, detail: `GET ${expected.deleted ? 'deleted' : `v${expected.version}`}: ${answer.status} v${versionOf(answer) ?? '-'}` };
  }
  if (answer.status !== 200) return { stale: false, failed: true, detail: `list answered ${answer.status} ${answer.sample.code ?? ''}` };
  const listed = (answer.body.data as { id: string; version: number }[]).find((t) => t.id === expected.id);
  const fresh = expected.deleted ? !listed : !!listed && listed.version >= expected.version!;
  return { stale: !fresh, failed: false, detail: `list ${expected.deleted ? 'deleted' : `v${expected.version}`}: ${listed ? `v${listed.version}` : 'absent'}` };
};

/**
 * Each user, on its own: a write through one instance, then at once a read through the other
 * (the proxy alternates per client), by id and by list in turn; every other round one request
 * that touches nothing (`/health/live`) swaps which instance writes. With `sendToken`, the read
 * carries the write's Consistency-Token when it had one.
 */
export const runWriteReadPairs = async (options: { recorder: Recorder; base: string; users: readonly User[]; pairs: number; sendToken: boolean }) => {
  const { recorder, base, users } = options;
  const run = randomBytes(3).toString('hex');
  const results: PairResult[] = [];
  const records: WriteRecord[] = [];
  let tokens = 0;
  const rounds = Math.ceil((2 * options.pairs) / users.length);

  await Promise.all(
    users.map(async (user, u) => {
      const live: { id: string; version: number | null }[] = [];
      for (let i = 0; i < rounds; i++) {
        const cid = `fp${u}-${run}-${i}`;
        const kind: WriteKind = live.length < 3 ? 'create' : Math.random() < 0.6 ? 'patch' : 'delete';
        const task = kind === 'create' ? null : live[Math.floor(Math.random() * live.length)]!;
        const record: WriteRecord = { cid, kind, userId: user.id, key: null, attempts: 1, status: 0, gaveUp: false, taskId: task?.id ?? null, version: null, results: null };
        records.push(record);
        const headers = { 'x-correlation-id': cid };
        const written =
          kind === 'create'
            ? await recorder.send(base, { method: 'POST', path: '/tasks', token: user.token, body: { title: `${cid} pair` }, headers, op: 'create' })
            : kind === 'patch'
              ? await recorder.send(base, { method: 'PATCH', path: `/tasks/${task!.id}`, token: user.token, body: { title: `${cid} pair` }, headers, op: 'patch' })
              : await recorder.send(base, { method: 'DELETE', path: `/tasks/${task!.id}`, token: user.token, headers, op: 'delete' });
        record.status = written.status;
        if (!isOk(written.status)) continue;
        if (kind === 'create') live.push({ id: written.body.id, version: null });
        if (kind === 'delete') live.splice(live.indexOf(task!), 1);
        record.taskId ??= written.body.id;
        record.version = kind === 'delete' ? null : versionOf(written);
        const expected: Expectation = { id: record.taskId!, version: record.version, deleted: kind === 'delete' };
        if (task) task.version = record.version;

        const token = written.headers?.get(CONSISTENCY_TOKEN) ?? null;
        if (token) tokens++;
        const read = i % 2 === 0 ? 'get' : 'list';
        const answer = await recorder.send(base, {
          path: read === 'get' ? `/tasks/${expected.id}` : '/tasks?limit=100&sortBy=updatedAt&sortOrder=DESC',
          token: user.token,
          ...(options.sendToken && token ? { headers: { [CONSISTENCY_TOKEN]: token } } : {}),
          op: `${read} after ${kind}`,
        });
        results.push({ read, write: kind, ...judge(read, answer, expected), sameInstance: written.sample.upstream === answer.sample.upstream });
        if (i % 2 === 1) await recorder.send(base, { path: '/health/live', token: user.token, kind: 'other', op: 'swap turns' });
      }
    }),
  );
  return { results, records, tokens };
};
