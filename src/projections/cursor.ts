import type { Knex } from 'knex';
import { compareLogPositions, type LogPosition, type RecordedEvent } from '../domain/event.js';
import { commitBatch, readCheckpoint, type CommitNotice } from './checkpoints.js';
import { countEvents, type BucketCounts } from './completeness.js';
import type { BatchWrite } from './projection.js';

/** How long a checkpoint moved in memory only may wait before it is stored. */
const LAZY_CHECKPOINT_MS = 1000;

/**
 * Where a runner stands in the log: `at` in memory, ahead of the stored checkpoint while batches
 * with nothing to write pass by. Every commit moves the stored checkpoint from where this
 * cursor left it and adds the events passed since to the projection's counts, in one statement.
 */
export const openCursor = async (knex: Knex, name: string) => {
  let at: LogPosition = await readCheckpoint(knex, name);
  let stored = at;
  let storedAt = Date.now();
  // Events passed in memory only, counted with the next commit.
  let passed: BucketCounts = new Map();

  return {
    get at() {
      return at;
    },
    /** The in-memory position has waited long enough: the next batch stores it even with nothing to write. */
    due: () => Date.now() - storedAt >= LAZY_CHECKPOINT_MS,
    /** Passes a batch with nothing to write, in memory only. */
    skip(events: readonly RecordedEvent[]) {
      if (events.length === 0) return;
      countEvents(events, passed);
      at = events.at(-1)!.position;
    },
    /** Writes `write` and stores the checkpoint after `events` (or where the cursor is, with none). */
    async commit(events: readonly RecordedEvent[], write: BatchWrite, notice?: CommitNotice) {
      const to = events.length ? events.at(-1)!.position : at;
      if (compareLogPositions(to, stored) === 0) return;
      await commitBatch(knex, name, stored, to, write, countEvents(events, new Map(passed)), notice);
      at = stored = to;
      storedAt = Date.now();
      passed = new Map();
    },
  };
};
export type Cursor = Awaited<ReturnType<typeof openCursor>>;
