import { ServiceUnavailableError } from '../domain/errors.js';
import type { LogPosition } from '../domain/event.js';
import type { ProjectionWatermarks } from '../projections/runtime.js';

const MAX_TRACKED_USERS = 100_000;

/**
 * Read-your-writes: remembers the log position of each user's last accepted write, and makes
 * that user's next read wait (bounded) until the projections it reads have passed it.
 */
export const createReadYourWrites = (watermarks: ProjectionWatermarks, timeoutMs: number) => {
  const lastWrite = new Map<string, LogPosition>();
  return {
    noteWrite(userId: string, position: LogPosition | null) {
      if (!position) return;
      lastWrite.delete(userId);
      lastWrite.set(userId, position);
      if (lastWrite.size > MAX_TRACKED_USERS) lastWrite.delete(lastWrite.keys().next().value!);
    },
    async awaitOwnWrites(userId: string, projections: readonly string[]) {
      const position = lastWrite.get(userId);
      if (!position) return;
      if (!(await watermarks.waitFor(projections, position, timeoutMs)))
        throw new ServiceUnavailableError(
          'The read model has not caught up with your last change yet; retry shortly',
          'READ_MODEL_BEHIND',
        );
    },
  };
};
export type ReadYourWrites = ReturnType<typeof createReadYourWrites>;
