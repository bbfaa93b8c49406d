import { MemoryStore, type IncrementResponse, type Options, type Store } from 'express-rate-limit';

/** After a shared-store error, count in-process for this long before trying the shared store again. */
const RETRY_SHARED_AFTER_MS = 1000;

/**
 * The shared counters (Redis) while they answer; in-process counters while they fail, so limits
 * still hold per instance during an outage instead of letting every request through. Back on the
 * shared store, it is initialised again (rate-limit-redis loads its scripts in `init`; a Redis
 * that was away at start or restarted has none).
 */
export const withInProcessFallback = (shared: Store): Store => {
  const local = new MemoryStore();
  let options: Options | null = null;
  let failedAt: number | null = null;

  let probe: Promise<boolean> | null = null;
  const useShared = (): boolean | Promise<boolean> => {
    if (failedAt === null) return true;
    if (Date.now() - failedAt < RETRY_SHARED_AFTER_MS) return false;
    // One probe at a time; the requests meanwhile wait for its verdict.
    probe ??= (async () => {
      try {
        if (options) await shared.init?.(options);
        failedAt = null;
        return true;
      } catch {
        failedAt = Date.now();
        return false;
      }
    })().finally(() => (probe = null));
    return probe;
  };
  /** The shared store's answer, or the in-process one's if the shared store is failing. */
  const either = async <T>(onShared: () => Promise<T> | T, onLocal: () => Promise<T> | T): Promise<T> => {
    if (!(await useShared())) return onLocal();
    try {
      return await onShared();
    } catch {
      failedAt = Date.now();
      return onLocal();
    }
  };

  return {
    prefix: shared.prefix,
    localKeys: false,
    init(given: Options) {
      options = given;
      local.init(given);
      return Promise.resolve(shared.init?.(given)).catch(() => {
        failedAt = Date.now();
      });
    },
    get: (key: string) => either(() => shared.get?.(key), () => local.get(key)),
    increment: (key: string): Promise<IncrementResponse> => either(() => shared.increment(key), () => local.increment(key)),
    decrement: (key: string) => either(() => shared.decrement(key), () => local.decrement(key)),
    resetKey: (key: string) => either(() => shared.resetKey(key), () => local.resetKey(key)),
    shutdown: async () => {
      await local.shutdown();
      await shared.shutdown?.();
    },
  };
};
