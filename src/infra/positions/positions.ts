import type { LogPosition } from '../../domain/event.js';

/**
 * The highest log position each user's writes reached, where every instance of a cluster sees it:
 * a user's read on any instance waits for it. Every adapter runs
 * `test/int/writePositions.contract.ts`.
 */
export interface WritePositions {
  /** Remembers a write; a lower position than the one kept never replaces it. */
  note(userId: string, position: LogPosition): Promise<void>;
  /** The highest position noted for the user, or null. */
  lookup(userId: string): Promise<LogPosition | null>;
  /** Every user who wrote within the last `seconds`, with their positions. */
  recent(seconds: number): Promise<Map<string, LogPosition>>;
}
