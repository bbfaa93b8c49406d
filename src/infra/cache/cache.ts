/**
 * The query-cache port. Entries are stamped with the generations of the scopes they depend on
 * (a task, an owner's lists); invalidating a scope bumps its generation, so an entry computed
 * from data older than the invalidation can never match again, even if it is written late.
 * Every adapter runs `test/int/cache.contract.ts`.
 */
export interface Cache {
  /** A hit, or a miss with the stamp to write the freshly loaded value under. */
  read(key: string, scopes: readonly string[]): Promise<{ hit: true; value: unknown } | { hit: false; stamp: string | null }>;
  write(key: string, value: unknown, stamp: string): Promise<void>;
  invalidate(scopes: readonly string[]): Promise<void>;
  /** Makes every entry miss, in every instance (after a projection rebuild swaps tables). */
  invalidateAll(): Promise<void>;
  stats(): { hits: number; misses: number };
  close(): Promise<void>;
}

export const CACHE_TTL_SECONDS = 300;

/** Cache-aside: serve a fresh entry, or load from the source and keep it for the next reader. */
export const cached = async <T>(
  cache: Cache,
  key: string,
  scopes: readonly string[],
  load: () => Promise<T>,
  options: { bypass?: boolean } = {},
): Promise<T> => {
  if (options.bypass) return load();
  const found = await cache.read(key, scopes);
  if (found.hit) return found.value as T;
  const value = await load();
  if (found.stamp !== null && value !== null && value !== undefined) await cache.write(key, value, found.stamp);
  return value;
};

/** The scope whose invalidation means "everything". */
export const ALL_SCOPES = '*';

export const taskScope = (taskId: string) => `task:${taskId}`;
export const ownerScope = (ownerId: string | null) => `owner:${ownerId ?? '*'}`;
