import { ServiceUnavailableError } from '../domain/errors.js';
import type { LogPosition } from '../domain/event.js';
import type { ProjectionWatermarks } from '../projections/runtime.js';

const MAX_TRACKED_USERS = 100_000;
/**
 * For this long after a write the writer's reads skip the query cache: another instance may
 * have committed the projection a moment before invalidating the cache entries it changed.
 */
const BYPASS_CACHE_MS = 2000;

/**
 * Read-your-writes: remembers the log position of each user's last accepted write, and makes
 * that user's next read wait (bounded) until the projections it reads have passed it.
 */
export const createReadYourWrites = (watermarks: ProjectionWatermarks, timeoutMs: number) => {
  const lastWrite = new Map<string, { position: LogPosition; at: number }>();
  return {
    noteWrite(userId: string, position: LogPosition | null) {
      if (!position) return;
      lastWrite.delete(userId);
      lastWrite.set(userId, { position, at: Date.now() });
      if (lastWrite.size > MAX_TRACKED_USERS) lastWrite.delete(lastWrite.keys().next().value!);
    },
    /** Waits for the user's last write to be projected; true when the read should skip the cache. */
    async awaitOwnWrites(userId: string, projections: readonly string[]): Promise<boolean> {
      const last = lastWrite.get(userId);
      if (!last) return false;
      if (!(await watermarks.waitFor(projections, last.position, timeoutMs)))
        throw new ServiceUnavailableError(
          'The read model has not caught up with your last change yet; retry shortly',
          'READ_MODEL_BEHIND',
        );
      return Date.now() - last.at < BYPASS_CACHE_MS;
    },
  };
};
export type ReadYourWrites = ReturnType<typeof createReadYourWrites>;
