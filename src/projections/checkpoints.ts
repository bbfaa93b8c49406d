import type { Knex } from 'knex';
import { LOG_START, type LogPosition } from '../domain/event.js';

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
  const row = await knex<CheckpointRow>(CHECKPOINTS_TABLE).where({ name }).first();
  return row ? toPosition(row) : LOG_START;
};

export const readCheckpoints = async (knex: Knex): Promise<Map<string, LogPosition>> => {
  const rows = await knex<CheckpointRow>(CHECKPOINTS_TABLE).select('name', 'tx', 'pos');
  return new Map(rows.map((row) => [row.name, toPosition(row)]));
};

/** Moves the checkpoint only from where this runner left it, in the read model's own transaction. */
export const advanceCheckpoint = async (trx: Knex.Transaction, name: string, from: LogPosition, to: LogPosition) => {
  const updated = await trx(CHECKPOINTS_TABLE)
    .where({ name, tx: from.tx.toString(), pos: from.pos.toString() })
    .update({ tx: to.tx.toString(), pos: to.pos.toString(), updated_at: trx.fn.now() });
  if (updated !== 1) throw new CheckpointMovedError(name);
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
