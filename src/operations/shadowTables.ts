import type { Knex } from 'knex';

// A rebuild writes into shadow copies of the live tables (`<table>__rebuild`), then swaps them in
// by renaming inside one transaction. These are the DDL steps; rebuild.ts decides when.

export const SHADOW_SUFFIX = '__rebuild';
const OLD_SUFFIX = '__old';

export const shadowOf = (name: string) => `${name}${SHADOW_SUFFIX}`;

const columnsOf = async (knex: Knex, table: string) => {
  const { rows } = await knex.raw<{ rows: { column: string; type: string }[] }>(
    `SELECT attname AS column, format_type(atttypid, atttypmod) AS type FROM pg_attribute
     WHERE attrelid = to_regclass(?) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [table],
  );
  return rows.map((r) => `${r.column} ${r.type}`).join(', ');
};

/** True when every shadow table exists with exactly the columns of its live table (a rebuild to resume). */
export const shadowTablesUsable = async (knex: Knex, live: readonly string[]) => {
  for (const table of live) {
    const [expected, actual] = await Promise.all([columnsOf(knex, table), columnsOf(knex, shadowOf(table))]);
    if (!actual || actual !== expected) return false;
  }
  return true;
};

type Index = Readonly<{ name: string; unique: boolean; constraint: boolean; definition: string }>;

/** A table's indexes; `definition` is what follows `ON <table>`: method, columns, predicate. */
const indexesOf = async (knex: Knex, table: string): Promise<Index[]> => {
  const { rows } = await knex.raw<{ rows: Index[] }>(
    `SELECT i.relname AS name, x.indisunique AS unique,
       EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) AS constraint,
       regexp_replace(pg_get_indexdef(x.indexrelid), ?, '') AS definition
     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = ?::regclass ORDER BY i.relname`,
    ['^CREATE (UNIQUE )?INDEX \\S+ ON \\S+ ', table],
  );
  return rows;
};
const sameIndex = (a: Index, b: Index) => a.unique === b.unique && a.definition === b.definition;

/**
 * Empty shadow tables shaped like the live ones: same columns, defaults and constraints. Indexes
 * that back no constraint are left out until the rows are in: building an index once is much
 * cheaper than maintaining it on every batch (two trigram GIN indexes among them).
 */
export const createShadowTables = async (trx: Knex.Transaction, live: readonly string[]) => {
  for (const table of live) {
    await trx.raw('DROP TABLE IF EXISTS ??', [shadowOf(table)]);
    await trx.raw('CREATE TABLE ?? (LIKE ?? INCLUDING ALL)', [shadowOf(table), table]);
    for (const index of await indexesOf(trx, shadowOf(table))) if (!index.constraint) await trx.raw('DROP INDEX ??', [index.name]);
  }
};

/** Builds on each shadow table the live indexes it lacks (named `<index>__rebuild` until the swap). */
export const completeShadowIndexes = async (knex: Knex, live: readonly string[]) => {
  for (const table of live) {
    const [wanted, present] = await Promise.all([indexesOf(knex, table), indexesOf(knex, shadowOf(table))]);
    for (const index of wanted.filter((w) => !present.some((p) => sameIndex(p, w))))
      // The definition comes from the catalog (pg_get_indexdef), not from user input.
      await knex.raw(`CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ?? ON ?? ${index.definition}`, [shadowOf(index.name).slice(0, 63), shadowOf(table)]);
  }
};

export const lockTables = (trx: Knex.Transaction, tables: readonly string[]) =>
  trx.raw(`LOCK TABLE ${tables.map(() => '??').join(', ')} IN ACCESS EXCLUSIVE MODE`, [...tables]);

/**
 * Shadow → live, inside the caller's transaction (which holds ACCESS EXCLUSIVE locks on the live
 * tables): rename, drop the old tables, and give the new indexes and constraints the old names,
 * so the next `LIKE … INCLUDING ALL` and everyone reading the catalog see the same names.
 */
export const swapInShadowTables = async (trx: Knex.Transaction, live: readonly string[]) => {
  for (const table of live) {
    const [oldIndexes, newIndexes] = await Promise.all([indexesOf(trx, table), indexesOf(trx, shadowOf(table))]);
    await trx.raw('ALTER TABLE ?? RENAME TO ??', [table, `${table}${OLD_SUFFIX}`]);
    await trx.raw('ALTER TABLE ?? RENAME TO ??', [shadowOf(table), table]);
    await trx.raw('DROP TABLE ??', [`${table}${OLD_SUFFIX}`]);
    const unnamed = [...newIndexes];
    for (const old of oldIndexes) {
      const found = unnamed.findIndex((n) => sameIndex(n, old));
      if (found < 0) continue;
      const [index] = unnamed.splice(found, 1);
      if (index!.name !== old.name) await trx.raw('ALTER INDEX ?? RENAME TO ??', [index!.name, old.name]);
    }
  }
};
