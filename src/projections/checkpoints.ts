import type { Knex } from 'knex';
import { LOG_START, type LogPosition } from '../domain/event.js';
import { NOTHING_TO_WRITE, WHEN_CHECKPOINT_MOVED, type BatchWrite } from './projection.js';

export const CHECKPOINTS_TABLE = 'projection_checkpoints';

type CheckpointRow = { name: string; tx: string; pos: string; updated_at: Date };

const toPosition = (row: Pick<CheckpointRow, 'tx' | 'pos'>): LogPosition => ({ tx: BigInt(row.tx), pos: BigInt(row.pos) });

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
  return new Map(rows.map((row) => [row.name, toPosition(row)]));
};

/**
 * Writes a batch and moves the checkpoint from where this runner left it, in one statement (one
 * round trip, one transaction): the write's parts are data-modifying CTEs guarded by the move.
 * When another process moved the checkpoint first, nothing is written and CheckpointMovedError
 * is thrown.
 */
export const commitBatch = async (knex: Knex, name: string, from: LogPosition, to: LogPosition, write: BatchWrite = NOTHING_TO_WRITE) => {
  const unguarded = write.statements.find((s) => !s.sql.includes(WHEN_CHECKPOINT_MOVED));
  if (unguarded) throw new Error(`A batch statement must write only WHERE ${WHEN_CHECKPOINT_MOVED}: ${unguarded.sql.slice(0, 80)}`);
  const parts = write.statements.map((s, i) => `, write_${i} AS (${s.sql})`).join('');
  const { rows } = await knex.raw<{ rows: { moved: number }[] }>(
    `WITH checkpoint_moved AS (
       UPDATE ?? SET tx = ?, pos = ?, updated_at = now() WHERE name = ? AND tx = ? AND pos = ? RETURNING 1
     )${parts}
     SELECT count(*)::int AS moved FROM checkpoint_moved`,
    [
      CHECKPOINTS_TABLE,
      to.tx.toString(),
      to.pos.toString(),
      name,
      from.tx.toString(),
      from.pos.toString(),
      ...write.statements.flatMap((s) => s.bindings),
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

export type CheckpointDetails = Readonly<{ name: string; position: LogPosition; updatedAt: string; lastError: string | null; lastErrorAt: string | null }>;

export const readCheckpointDetails = async (knex: Knex): Promise<Map<string, CheckpointDetails>> => {
  const rows = await knex(CHECKPOINTS_TABLE).select<(CheckpointRow & { last_error: string | null; last_error_at: Date | null })[]>('*');
  return new Map(
    rows.map((row) => [
      row.name,
      {
        name: row.name,
        position: toPosition(row),
        updatedAt: new Date(row.updated_at).toISOString(),
        lastError: row.last_error,
        lastErrorAt: row.last_error_at ? new Date(row.last_error_at).toISOString() : null,
      },
    ]),
  );
};

/** A rebuild keeps its own checkpoint beside the live one, so a crashed rebuild resumes from it. */
export const rebuildCheckpointName = (name: string) => `${name}@rebuild`;

export const findCheckpoint = async (knex: Knex, name: string): Promise<LogPosition | null> => {
  const row = await knex<CheckpointRow>(CHECKPOINTS_TABLE).where({ name }).first();
  return row ? toPosition(row) : null;
};

/** Puts a checkpoint at a position whatever it was (a rebuild's start, or the live one at a swap). */
export const setCheckpoint = async (knex: Knex, name: string, to: LogPosition) => {
  await knex(CHECKPOINTS_TABLE)
    .insert({ name, tx: to.tx.toString(), pos: to.pos.toString(), updated_at: knex.fn.now() })
    .onConflict('name')
    .merge(['tx', 'pos', 'updated_at']);
};

export const deleteCheckpoint = async (knex: Knex, name: string) => {
  await knex(CHECKPOINTS_TABLE).where({ name }).delete();
};
