import { compareLogPositions, laterPosition, LOG_START, positionOf, type LogPosition } from '../../domain/event.js';

/** What a fresh load is written under: the cache's epoch and the position its data reflects at least. */
export type CacheStamp = Readonly<{ epoch: string; at: LogPosition }>;

export type CacheRead =
  | Readonly<{ hit: true; value: unknown; at: LogPosition; stamp: CacheStamp }>
  | Readonly<{ hit: false; stamp: CacheStamp | null }>;

/**
 * The query-cache port, over the read model of one projection (tasks). Each entry carries the
 * log position its data reflects at least; each scope (a task, an owner's lists) the position of
 * its last change. The projector marks a batch's scopes changed *before* the batch commits, so an
 * entry of older data stops matching whatever crashes next, and a reader that loads old data
 * meanwhile writes it under a position below the change. Every adapter runs
 * `test/int/cache.contract.ts`.
 */
export interface Cache {
  /** The entry when no change to its scopes came after its data; the stamp to write a fresh load under (null: do not cache). */
  read(key: string, scopes: readonly string[]): Promise<CacheRead>;
  write(key: string, value: unknown, stamp: CacheStamp): Promise<void>;
  /** Before a batch commits up to `to`: entries of these scopes with older data stop matching. */
  invalidate(scopes: readonly string[], to: LogPosition): Promise<void>;
  /** After that batch committed: loads from now on reflect at least `to`. */
  committed(scopes: readonly string[], to: LogPosition): Promise<void>;
  /** A committed position of the projection seen some other way (a checkpoint read, another process). */
  observed(to: LogPosition): void;
  /** Makes every entry miss, in every instance (after a projection rebuild swaps tables). */
  invalidateAll(): Promise<void>;
  stats(): { hits: number; misses: number };
  close(): Promise<void>;
}

export const CACHE_TTL_SECONDS = 300;

/** A position as text that sorts like the position (both parts zero-padded), for Redis and NOTIFY payloads. */
export const positionKey = (at: LogPosition) => `${at.tx.toString().padStart(20, '0')}:${at.pos.toString().padStart(20, '0')}`;

export const fromPositionKey = (key: string | null | undefined): LogPosition => {
  const match = key ? /^(\d{1,20}):(\d{1,20})$/.exec(key) : null;
  return match ? positionOf({ tx: match[1]!, pos: match[2]! }) : LOG_START;
};

/**
 * Cache-aside: an entry whose data reflects at least `atLeast` (the caller's own last write), or
 * a fresh load, kept for the next reader. `atLeast` must already be projected when this is called.
 */
export const cached = async <T>(
  cache: Cache,
  key: string,
  scopes: readonly string[],
  load: () => Promise<T>,
  options: { atLeast?: LogPosition | null; found?: CacheRead } = {},
): Promise<T> => {
  const found = options.found ?? (await cache.read(key, scopes));
  const atLeast = options.atLeast ?? null;
  if (found.hit && (atLeast === null || compareLogPositions(found.at, atLeast) >= 0)) return found.value as T;
  const value = await load();
  // The load began after `atLeast` was projected: its data reflects at least that.
  const stamp = found.stamp && atLeast ? { ...found.stamp, at: laterPosition(found.stamp.at, atLeast) } : found.stamp;
  if (stamp !== null && value !== null && value !== undefined) await cache.write(key, value, stamp);
  return value;
};

/** The scope whose invalidation means "everything". */
export const ALL_SCOPES = '*';

export const taskScope = (taskId: string) => `task:${taskId}`;
export const ownerScope = (ownerId: string | null) => `owner:${ownerId ?? '*'}`;
