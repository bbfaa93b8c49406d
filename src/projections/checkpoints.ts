import type { Knex } from 'knex';
import { LOG_START, positionOf, type LogPosition } from '../domain/event.js';
import { COMPLETENESS_TABLE, COUNTS_TABLE, countsStatement, type BucketCounts } from './completeness.js';
import { FAILURES_TABLE } from './failures.js';
import { NOTHING_TO_WRITE, WHEN_CHECKPOINT_MOVED, type BatchWrite, type Statement } from './projection.js';

export const CHECKPOINTS_TABLE = 'projection_checkpoints';

type CheckpointRow = { name: string; tx: string; pos: string; updated_at: Date };

export const formatPosition = (at: LogPosition) => `${at.tx}/${at.pos}`;

/** Another process moved the checkpoint under us: this runner no longer owns the projection. */
export class CheckpointMovedError extends Error {
  constructor(name: string) {
    super(`The checkpoint of projection ${name} was moved by another process`);
  }
}

export const readCheckpoint = async (knex: Knex, name: string): Promise<LogPosition> => {
  await knex(CHECKPOINTS_TABLE).insert({ name }).onConflict('name').ignore();
  return (await findCheckpoint(knex, name)) ?? LOG_START;
};

export const readCheckpoints = async (knex: Knex): Promise<Map<string, LogPosition>> => {
  const rows = await knex<CheckpointRow>(CHECKPOINTS_TABLE).select('name', 'tx', 'pos');
  return new Map(rows.map((row) => [row.name, positionOf(row)]));
};

/** A NOTIFY sent by the commit itself: it reaches listeners exactly when the batch commits, crash or not. */
export type CommitNotice = Readonly<{ channel: string; payload: string }>;

/**
 * Writes a batch and moves the checkpoint from where this runner left it, in one statement (one
 * round trip, one transaction): the write's parts and the counts of the events it consumed are
 * data-modifying CTEs guarded by the move, and the notice is sent only if the move happened. When
 * another process moved the checkpoint first, nothing is written and CheckpointMovedError is thrown.
 */
export const commitBatch = async (
  knex: Knex,
  name: string,
  from: LogPosition,
  to: LogPosition,
  write: BatchWrite = NOTHING_TO_WRITE,
  consumed: BucketCounts = new Map(),
  notice?: CommitNotice,
) => {
  const unguarded = write.statements.find((s) => !s.sql.includes(WHEN_CHECKPOINT_MOVED));
  if (unguarded) throw new Error(`A batch statement must write only WHERE ${WHEN_CHECKPOINT_MOVED}: ${unguarded.sql.slice(0, 80)}`);
  const parts: Statement[] = [...write.statements, ...(consumed.size ? [countsStatement(name, consumed)] : [])];
  const { rows } = await knex.raw<{ rows: { moved: number }[] }>(
    `WITH checkpoint_moved AS (
       UPDATE ?? SET tx = ?, pos = ?, updated_at = now() WHERE name = ? AND tx = ? AND pos = ? RETURNING 1
     )${parts.map((s, i) => `, part_${i} AS (${s.sql})`).join('')}
     SELECT count(*)::int AS moved FROM checkpoint_moved${notice ? ' LEFT JOIN LATERAL (SELECT pg_notify(?, ?)) AS notice ON true' : ''}`,
    [
      CHECKPOINTS_TABLE,
      to.tx.toString(),
      to.pos.toString(),
      name,
      from.tx.toString(),
      from.pos.toString(),
      ...parts.flatMap((s) => s.bindings),
      ...(notice ? [notice.channel, notice.payload] : []),
    ],
  );
  if (rows[0]?.moved !== 1) throw new CheckpointMovedError(name);
};

/** The last failure of a projection's runner (null clears it), for `projections status` in any process. */
export const recordProjectionError = async (knex: Knex, name: string, message: string | null) => {
  await knex(CHECKPOINTS_TABLE)
    .where({ name })
    .update({ last_error: message === null ? null : message.slice(0, 2000), last_error_at: message === null ? null : knex.fn.now() });
};

export type CheckpointDetails = Readonly<{
  name: string;
  position: LogPosition;
  /** The projection's counts cover the log after this position (LOG_START: all of it). */
  countedAfter: LogPosition;
  updatedAt: string;
  lastError: string | null;
  lastErrorAt: string | null;
}>;

type DetailsRow = CheckpointRow & { counted_after_tx: string; counted_after_pos: string; last_error: string | null; last_error_at: Date | null };

const toDetails = (row: DetailsRow): CheckpointDetails => ({
  name: row.name,
  position: positionOf(row),
  countedAfter: positionOf({ tx: row.counted_after_tx, pos: row.counted_after_pos }),
  updatedAt: new Date(row.updated_at).toISOString(),
  lastError: row.last_error,
  lastErrorAt: row.last_error_at ? new Date(row.last_error_at).toISOString() : null,
});

export const readCheckpointDetails = async (knex: Knex): Promise<Map<string, CheckpointDetails>> => {
  const rows = await knex(CHECKPOINTS_TABLE).select<DetailsRow[]>('*');
  return new Map(rows.map((row) => [row.name, toDetails(row)]));
};

export const findCheckpointDetails = async (knex: Knex, name: string): Promise<CheckpointDetails | null> => {
  const row = await knex(CHECKPOINTS_TABLE).where({ name }).first<DetailsRow | undefined>();
  return row ? toDetails(row) : null;
};

/** A rebuild keeps its own checkpoint beside the live one, so a crashed rebuild resumes from it. */
export const rebuildCheckpointName = (name: string) => `${name}@rebuild`;

export const findCheckpoint = async (knex: Knex, name: string): Promise<LogPosition | null> => {
  const row = await knex<CheckpointRow>(CHECKPOINTS_TABLE).where({ name }).first();
  return row ? positionOf(row) : null;
};

/** A rebuild starts from the start of the log, with no counts. */
export const startRebuildCheckpoint = async (trx: Knex.Transaction, name: string) => {
  const shadow = rebuildCheckpointName(name);
  await trx(CHECKPOINTS_TABLE)
    .insert({ name: shadow, tx: '0', pos: '0', counted_after_tx: '0', counted_after_pos: '0', updated_at: trx.fn.now() })
    .onConflict('name')
    .merge(['tx', 'pos', 'counted_after_tx', 'counted_after_pos', 'updated_at']);
  await trx(COUNTS_TABLE).where({ projection: shadow }).delete();
};

/**
 * A rebuild's swap: the live checkpoint takes the rebuild's position and counts (it counted the
 * whole log), the rebuild's checkpoint goes, a failure of the replaced model is cleared, and the
 * next completeness check covers the whole log again.
 */
export const adoptRebuild = async (trx: Knex.Transaction, name: string, at: LogPosition) => {
  const shadow = rebuildCheckpointName(name);
  await trx(CHECKPOINTS_TABLE)
    .insert({ name, tx: at.tx.toString(), pos: at.pos.toString(), counted_after_tx: '0', counted_after_pos: '0', updated_at: trx.fn.now() })
    .onConflict('name')
    .merge(['tx', 'pos', 'counted_after_tx', 'counted_after_pos', 'updated_at']);
  await trx(COUNTS_TABLE).where({ projection: name }).delete();
  await trx(COUNTS_TABLE).where({ projection: shadow }).update({ projection: name });
  await trx(CHECKPOINTS_TABLE).where({ name: shadow }).delete();
  await trx(FAILURES_TABLE).where({ projection: name }).delete();
  await trx(COMPLETENESS_TABLE).where({ projection: name }).delete();
};
