import type { Knex } from 'knex';
import { ConflictError, ValidationError } from '../domain/errors.js';
import { eventColumns, FAILURES_TABLE, findFailure, OPERATIONS_TABLE, type ProjectionFailure } from '../projections/failures.js';
import { projectionNamed } from './projections.js';

// What an operator does about a projection that stopped on an event: try again (after a fix),
// or park the event (the projection skips it for good). Both act on the database only, so they
// work from any process; the runner that owns the projection notices within a second. Each is
// recorded in projection_operations, the log of operations: who, when, why.

const NOT_FAILED = (name: string, what: string) => new ConflictError(`Projection ${name} has not failed: ${what}`, 'PROJECTION_NOT_FAILED');

/** In one transaction: the failure is still there, passes `check`, is logged as `operation` and cleared. */
const clearFailure = async (
  knex: Knex,
  name: string,
  refusal: string,
  check: (failure: ProjectionFailure) => void,
  operation: { action: 'retry' | 'park'; operator: string; reason?: string },
) =>
  knex.transaction(async (trx) => {
    const failure = await findFailure(trx, projectionNamed(name), { lock: true });
    if (!failure) throw NOT_FAILED(name, refusal);
    check(failure);
    await trx(OPERATIONS_TABLE).insert({ projection: name, ...eventColumns(failure), error: failure.error, reason: operation.reason ?? null, action: operation.action, operator: operation.operator });
    await trx(FAILURES_TABLE).where({ projection: name }).delete();
    return failure;
  });

/** Clears a projection's failure: its runner tries the event again. */
export const retryProjection = (knex: Knex, name: string, operator: string) =>
  clearFailure(knex, name, 'there is nothing to retry', () => undefined, { action: 'retry', operator });

/**
 * Records the event a projection stopped on as parked: its runner skips exactly that event and
 * goes on. Only that event can be parked: parking one it already applied would not undo it, and
 * parking one it has not reached would skip an event nobody saw fail.
 */
export const parkEvent = async (knex: Knex, name: string, eventId: string, reason: string, operator: string) => {
  if (!reason.trim()) throw new ValidationError('Say why the event is parked (--reason)', [], 'REASON_REQUIRED');
  const isTheFailedEvent = (failure: ProjectionFailure) => {
    if (failure.eventId !== eventId.toLowerCase())
      throw new ConflictError(`Event ${eventId} is not the event ${name} stopped on (${failure.eventId}): only that event can be parked`, 'NOT_THE_FAILED_EVENT');
  };
  return clearFailure(knex, name, 'only the event a projection stopped on can be parked', isTheFailedEvent, { action: 'park', operator, reason: reason.trim() });
};
