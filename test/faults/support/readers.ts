import { setTimeout as sleep } from 'node:timers/promises';
import { isOk, type Recorder, type User } from './client.js';

const SORTS = ['createdAt', 'updatedAt', 'priority', 'title'] as const;

/**
 * Readers through the proxy: lists, single tasks the writers created, stats. They warm the
 * caches of both instances, which the stale-read check afterwards must not find outdated.
 */
export const startReaders = (options: {
  recorder: Recorder;
  base: string;
  users: readonly User[];
  createdBy: ReadonlyMap<string, readonly string[]>;
  readers?: number;
  thinkMs?: number;
}) => {
  const { recorder, base, users, createdBy } = options;
  let stopping = false;
  const reader = async () => {
    while (!stopping) {
      const user = users[Math.floor(Math.random() * users.length)]!;
      const ids = createdBy.get(user.id) ?? [];
      const r = Math.random();
      const [path, op] =
        r < 0.45 && ids.length
          ? [`/tasks/${ids[Math.floor(Math.random() * ids.length)]}`, 'get task']
          : r < 0.9
            ? [`/tasks?limit=20&sortBy=${SORTS[Math.floor(Math.random() * SORTS.length)]}`, 'list']
            : ['/tasks/stats', 'stats'];
      const answer = await recorder.send(base, { path, token: user.token, op });
      await sleep(isOk(answer.status) || answer.status === 404 ? (options.thinkMs ?? 20) : 100);
    }
  };
  const running = Array.from({ length: options.readers ?? 2 }, reader);
  return {
    stop: async () => {
      stopping = true;
      await Promise.all(running);
    },
  };
};
