import { versionOf, type Recorder, type User } from './client.js';
import type { ExpectedTask } from './log.js';

type Instance = Readonly<{ name: string; url: string }>;

/** Runs the jobs with at most `width` in flight. */
const inParallel = async (jobs: readonly (() => Promise<void>)[], width = 8) => {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < jobs.length) await jobs[next++]!();
  }));
};

/** Every page of the user's list: id → version. */
const listAll = async (recorder: Recorder, instance: Instance, user: User) => {
  const seen = new Map<string, number>();
  for (let page = 1; ; page++) {
    const a = await recorder.send(instance.url, { path: `/tasks?limit=100&page=${page}&sortBy=createdAt&sortOrder=ASC`, token: user.token, kind: 'other', op: 'check list' });
    if (a.status !== 200) return { seen, failure: `list page ${page} answered ${a.status} ${a.sample.code ?? ''}` };
    for (const t of a.body.data as { id: string; version: number }[]) seen.set(t.id, t.version);
    if (page >= a.body.meta.totalPages) return { seen, failure: null };
  }
};

/**
 * Once settled, asks each instance directly (not through the proxy), as each owner, for every
 * task of the log: a deleted task must answer 404, a live one its last version, by id and in
 * the owner's list. Each read that does not is described.
 */
export const checkStaleReads = async (recorder: Recorder, instances: readonly Instance[], users: readonly User[], expected: ReadonlyMap<string, ExpectedTask>) => {
  const stale: string[] = [];
  let reads = 0;
  const jobs: (() => Promise<void>)[] = [];
  for (const instance of instances)
    for (const user of users) {
      const own = [...expected.values()].filter((t) => t.ownerId === user.id);
      jobs.push(async () => {
        const { seen, failure } = await listAll(recorder, instance, user);
        reads++;
        if (failure) return void stale.push(`${instance.name} ${user.email}: ${failure}`);
        for (const t of own) {
          const listed = seen.get(t.id);
          if (t.deleted && listed !== undefined) stale.push(`${instance.name} list: deleted task ${t.id} still listed (v${listed})`);
          if (!t.deleted && listed !== t.version) stale.push(`${instance.name} list: task ${t.id} at v${listed ?? '-'}, the log has v${t.version}`);
        }
        for (const id of seen.keys()) if (!expected.has(id)) stale.push(`${instance.name} list: task ${id} is not in the log`);
      });
      for (const t of own)
        jobs.push(async () => {
          const a = await recorder.send(instance.url, { path: `/tasks/${t.id}`, token: user.token, kind: 'other', op: 'check task' });
          reads++;
          if (t.deleted && a.status !== 404) stale.push(`${instance.name} GET ${t.id}: deleted, answered ${a.status}${a.status === 200 ? ` v${versionOf(a)}` : ''}`);
          if (!t.deleted && (a.status !== 200 || versionOf(a) !== t.version))
            stale.push(`${instance.name} GET ${t.id}: answered ${a.status} v${versionOf(a) ?? '-'}, the log has v${t.version}`);
        });
    }
  await inParallel(jobs);
  return { stale, reads };
};
