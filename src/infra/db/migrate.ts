import type { Knex } from 'knex';
import * as eventStore from './migrations/001_event_store.js';
import * as readModels from './migrations/002_read_models.js';
import * as refreshTokens from './migrations/003_refresh_tokens.js';
import * as notificationsIdempotency from './migrations/004_notifications_idempotency.js';
import * as lockLeases from './migrations/005_lock_leases.js';
import * as projectionStatus from './migrations/006_projection_status.js';
import * as notifyAfterCommit from './migrations/007_events_notify_after_commit.js';
import * as taskSortIndexes from './migrations/008_task_sort_indexes.js';
import * as appendTakesItsOwnXid from './migrations/009_append_takes_its_own_xid.js';
import * as projectionFailuresAndCounts from './migrations/010_projection_failures_and_counts.js';
import * as idempotencyClaims from './migrations/011_idempotency_claims.js';
import * as readYourWrites from './migrations/012_read_your_writes.js';

type Migration = { up: (knex: Knex) => Promise<void>; down: (knex: Knex) => Promise<void> };

// Listed in code rather than discovered on disk, so migrations run the same under tsx, a bundle or tests.
const migrations: Record<string, Migration> = {
  '001_event_store': eventStore,
  '002_read_models': readModels,
  '003_refresh_tokens': refreshTokens,
  '004_notifications_idempotency': notificationsIdempotency,
  '005_lock_leases': lockLeases,
  '006_projection_status': projectionStatus,
  '007_events_notify_after_commit': notifyAfterCommit,
  '008_task_sort_indexes': taskSortIndexes,
  '009_append_takes_its_own_xid': appendTakesItsOwnXid,
  '010_projection_failures_and_counts': projectionFailuresAndCounts,
  '011_idempotency_claims': idempotencyClaims,
  '012_read_your_writes': readYourWrites,
};

const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name]!,
};

/** Brings the schema up to date; safe to run from several instances at once (knex takes a lock). */
export const migrateToLatest = async (knex: Knex): Promise<string[]> => {
  const [, applied] = (await knex.migrate.latest({ migrationSource, tableName: 'knex_migrations' })) as [number, string[]];
  return applied;
};
