import type { Knex } from 'knex';
import type { RecordedEvent } from '../domain/event.js';

/** A read model built from the log. `apply` runs inside the transaction that also moves its checkpoint. */
export type Projection = Readonly<{
  name: string;
  /** Tables the projection owns, in the order they can be truncated. */
  tables: readonly string[];
  handles: ReadonlySet<string>;
  /** Returns the cache scopes the batch changed; they are invalidated once it is committed. */
  apply: (trx: Knex.Transaction, events: readonly RecordedEvent[]) => Promise<readonly string[] | void>;
}>;
