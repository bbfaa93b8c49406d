import { ServiceUnavailableError } from '../domain/errors.js';
import { compareLogPositions, latestPosition, type LogPosition } from '../domain/event.js';
import type { WritePositions } from '../infra/positions/positions.js';
import type { Logger } from '../infra/logger.js';
import type { ProjectionWatermarks } from '../projections/runtime.js';

const MAX_REMEMBERED_USERS = 100_000;
/** What an instance that becomes alone takes over from the shared store. */
const ADOPT_SECONDS = 600;

export type ReadYourWritesDeps = Readonly<{
  watermarks: ProjectionWatermarks;
  /** Where every instance sees each user's last write position. */
  positions: WritePositions;
  instances: Readonly<{ alone: () => boolean; writable: () => Promise<void> }>;
  timeoutMs: number;
  logger: Logger;
}>;

/**
 * Read-your-writes: the highest log position of each user's writes is noted where every instance
 * sees it, and a read by that user (or one carrying a Consistency-Token) first waits, bounded,
 * until the projections it reads have passed it. An instance alone in its cluster has seen every
 * write itself and asks nobody.
 */
export const createReadYourWrites = (deps: ReadYourWritesDeps) => {
  const { watermarks, positions, instances, timeoutMs, logger } = deps;
  const seen = new Map<string, LogPosition>();
  const remember = (userId: string, position: LogPosition) => {
    const known = seen.get(userId);
    if (known && compareLogPositions(known, position) >= 0) return;
    seen.delete(userId);
    seen.set(userId, position);
    if (seen.size > MAX_REMEMBERED_USERS) seen.delete(seen.keys().next().value!);
  };

  return {
    /** This instance became alone: what the others noted is its to know now. */
    async adopt() {
      for (const [userId, position] of await positions.recent(ADOPT_SECONDS)) remember(userId, position);
    },
    /** Notes an accepted write; resolves once every instance can see it. */
    async noteWrite(userId: string, position: LogPosition) {
      remember(userId, position);
      await instances.writable();
      // The write stands; if the note fails, the answer's Consistency-Token still carries it.
      await positions.note(userId, position).catch((error: Error) => logger.warn('could not note a write position', { error: error.message }));
    },
    /** The position a read by this user must reflect: their last write, or the token's, whichever is later. */
    async required(userId: string, token: LogPosition | null): Promise<LogPosition | null> {
      const noted = instances.alone() ? (seen.get(userId) ?? null) : await positions.lookup(userId);
      return latestPosition(noted, token);
    },
    /** Waits until every named projection has passed `position`; 503 past the bound, never stale data. */
    async awaitProjected(projections: readonly string[], position: LogPosition) {
      if (!(await watermarks.waitFor(projections, position, timeoutMs)))
        throw new ServiceUnavailableError('The read model has not caught up with your last change yet; retry shortly', 'READ_MODEL_BEHIND');
    },
  };
};
export type ReadYourWrites = ReturnType<typeof createReadYourWrites>;
