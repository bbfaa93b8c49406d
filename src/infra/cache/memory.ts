import { LRUCache } from 'lru-cache';
import { LOG_START, type LogPosition } from '../../domain/event.js';
import { ALL_SCOPES, CACHE_TTL_SECONDS, positionKey, type Cache, type CacheStamp } from './cache.js';

/** A committed change other instances must hear of: its scopes up to `to`, or everything (`to` null). */
export type CacheChange = Readonly<{ scopes: readonly string[]; to: LogPosition | null }>;

/** Carries changes between instances that share a database but no Redis. */
export type InvalidationBus = Readonly<{
  /** Every instance forgets everything (a rebuild swapped the tables). */
  publishAll: () => Promise<void>;
  subscribe: (handler: (change: CacheChange) => void) => void;
  /** False while changes could be missed (not listening): nothing may be served then. */
  listening: () => boolean;
}>;

const MAX_GENERATIONS = 50_000;
/** A bound in characters of JSON (about bytes): a count alone would let 10,000 large pages through. */
const MAX_CHARS = 32 * 1024 * 1024;

/** `at` as sortable text to compare, and as the position to hand back (parsed once, not per read). */
type Entry = { epoch: number; at: string; position: LogPosition; json: string };

/**
 * The in-process LRU cache of the embedded default. Positions are kept as sortable text
 * (`positionKey`), so a change and an entry compare as strings.
 */
export const createMemoryCache = (options: { maxEntries?: number; maxChars?: number; bus?: InvalidationBus } = {}): Cache => {
  // Values are kept as JSON text, so every reader gets its own copy and each entry has a size.
  const entries = new LRUCache<string, Entry>({
    max: options.maxEntries ?? 10_000,
    maxSize: options.maxChars ?? MAX_CHARS,
    sizeCalculation: (entry) => entry.json.length + entry.at.length,
    ttl: CACHE_TTL_SECONDS * 1000,
  });
  /** The position of each scope's last change, oldest first (a Map keeps insertion order). */
  const changes = new Map<string, string>();
  /** Entries below it may depend on a change that was forgotten to bound memory. */
  let floor = positionKey(LOG_START);
  /** Loads from now on reflect at least this (as text, and as a position). */
  let committedAt = floor;
  let committedPosition = LOG_START;
  let epoch = 0;
  let hits = 0;
  let misses = 0;
  const later = (a: string, b: string) => (a >= b ? a : b);

  const forgetAll = () => {
    for (const at of changes.values()) floor = later(floor, at);
    floor = later(floor, committedAt);
    changes.clear();
    entries.clear();
    epoch++;
  };
  const change = (scopes: readonly string[], to: string) => {
    if (scopes.includes(ALL_SCOPES)) return forgetAll();
    for (const scope of scopes) {
      const at = changes.get(scope);
      changes.delete(scope);
      changes.set(scope, at ? later(at, to) : to);
    }
    for (const [scope, at] of changes) {
      if (changes.size <= MAX_GENERATIONS) break;
      floor = later(floor, at);
      changes.delete(scope);
    }
  };
  const observe = (to: LogPosition) => {
    const at = positionKey(to);
    if (at <= committedAt) return;
    committedAt = at;
    committedPosition = to;
  };
  const commit = (scopes: readonly string[], to: LogPosition) => {
    if (scopes.length) change(scopes, positionKey(to));
    observe(to);
  };
  const matches = (entry: Entry, scopes: readonly string[]) =>
    entry.epoch === epoch && entry.at >= floor && scopes.every((scope) => entry.at >= (changes.get(scope) ?? ''));

  options.bus?.subscribe(({ scopes, to }) => (to === null ? forgetAll() : commit(scopes, to)));

  return {
    async read(key, scopes) {
      // While the bus is away, changes elsewhere go unheard: serve nothing, cache nothing.
      if (options.bus && !options.bus.listening()) {
        misses++;
        return { hit: false, stamp: null };
      }
      const stamp: CacheStamp = { epoch: String(epoch), at: committedPosition };
      const entry = entries.get(key);
      if (entry && matches(entry, scopes)) {
        hits++;
        return { hit: true, value: JSON.parse(entry.json), at: entry.position, stamp };
      }
      misses++;
      return { hit: false, stamp };
    },
    async write(key, value, stamp) {
      if (stamp.epoch !== String(epoch)) return;
      entries.set(key, { epoch, at: positionKey(stamp.at), position: stamp.at, json: JSON.stringify(value) });
    },
    async invalidate(scopes, to) {
      if (scopes.length) change(scopes, positionKey(to));
    },
    async committed(scopes, to) {
      commit(scopes, to);
    },
    observed: observe,
    async invalidateAll() {
      forgetAll();
      await options.bus?.publishAll();
    },
    stats: () => ({ hits, misses }),
    async close() {
      entries.clear();
    },
  };
};
