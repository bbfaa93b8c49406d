import type { EventStore, ReadAllResult } from './eventStore.js';

const REUSE_MS = 50;

/**
 * The projection runners of one process usually stand at the same position and read the same
 * batch of the log: the first read is shared with the others for a few milliseconds. A shared
 * result is still a gap-free prefix of the log; at worst it is a little shorter than a new read.
 */
export const shareLogReads = (store: EventStore): EventStore => {
  const recent = new Map<string, { at: number; result: Promise<ReadAllResult> }>();
  return {
    ...store,
    readAll(options) {
      const key = `${options.after.tx}/${options.after.pos}/${options.limit}`;
      const now = Date.now();
      const hit = recent.get(key);
      if (hit && now - hit.at < REUSE_MS) return hit.result;
      for (const [k, v] of recent) if (now - v.at >= REUSE_MS) recent.delete(k);
      const result = store.readAll(options);
      recent.set(key, { at: now, result });
      // An empty answer is not shared: the caller will ask again in a moment and needs a new read.
      result.then((r) => r.events.length === 0 && recent.delete(key), () => recent.delete(key));
      return result;
    },
  };
};
