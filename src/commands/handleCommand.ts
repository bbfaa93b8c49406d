import { randomUUID } from 'node:crypto';
import { actorId, type CommandContext } from '../domain/actor.js';
import { AppError, ConcurrencyError, ServiceUnavailableError } from '../domain/errors.js';
import { foldRecorded, stamp, type Event, type EventMetadata, type LogPosition, type Stamped } from '../domain/event.js';
import type { EventStore } from '../infra/eventstore/eventStore.js';
import { currentTraceparent, inSpan } from '../infra/tracing.js';

/** Told of every handled command: its type, outcome and duration. */
export type CommandObserver = (type: string, outcome: CommandOutcome, seconds: number) => void;
export type CommandOutcome = 'accepted' | 'unchanged' | 'rejected' | 'conflict' | 'error';

export type CommandDeps = Readonly<{ eventStore: EventStore; observe?: CommandObserver }>;

const outcomeOf = (error: unknown): CommandOutcome =>
  error instanceof ConcurrencyError ? 'conflict' : error instanceof AppError && error.status < 500 ? 'rejected' : 'error';

export type Decider<Command, E extends Event, State> = Readonly<{
  decide: (command: Command, state: State, context: CommandContext) => E[];
  evolve: (state: State, event: Stamped<E>) => State;
  initialState: () => State;
}>;

export type CommandOptions = Readonly<{
  context: CommandContext;
  correlationId: string;
  traceparent?: string;
  /** The stream id was just generated (e.g. a new task's UUID): nothing to read before deciding. */
  newStream?: boolean;
  /** Stamped into the metadata when the command comes from a lock holder. */
  fencing?: Readonly<{ lock: string; token: string }>;
  /** From If-Match: the client's view must be current, and a conflict is the client's to resolve. */
  expectedVersion?: number;
}>;

export type CommandResult<State> = Readonly<{
  state: State;
  version: number;
  /** Log position of the last appended event; null when the command changed nothing. */
  position: LogPosition | null;
  events: readonly Event[];
}>;

const MAX_ATTEMPTS = 50;
/** Jittered, growing pause between attempts, so racing writers spread out instead of colliding again. */
const backoff = (attempt: number) => new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(2 ** attempt, 100)));
export const SCHEMA_VERSION = 1;

/**
 * Read the stream, fold it, decide, append at the version read. Without an expected version
 * from the client a lost race is retried on the new state, so no write overwrites another.
 */
export const handleCommand = <Command extends { type: string }, E extends Event, State>(
  deps: CommandDeps,
  decider: Decider<Command, E, State>,
  streamId: string,
  command: Command,
  options: CommandOptions,
): Promise<CommandResult<State>> =>
  inSpan(`command ${command.type}`, { attributes: { 'taskflow.command': command.type, 'taskflow.stream': streamId } }, async () => {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const result = await decideAndAppend(deps.eventStore, decider, streamId, command, {
        ...options,
        traceparent: options.traceparent ?? currentTraceparent(),
      });
      deps.observe?.(command.type, result.events.length ? 'accepted' : 'unchanged', seconds());
      return result;
    } catch (error) {
      deps.observe?.(command.type, outcomeOf(error), seconds());
      throw error;
    }
  });

const decideAndAppend = async <Command extends { type: string }, E extends Event, State>(
  eventStore: EventStore,
  decider: Decider<Command, E, State>,
  streamId: string,
  command: Command,
  options: CommandOptions,
): Promise<CommandResult<State>> => {
  const commandId = randomUUID();
  for (let attempt = 1; ; attempt++) {
    // A stream named by an id generated for this command cannot exist yet: skip the first read.
    const recorded = attempt === 1 && options.newStream ? [] : await eventStore.readStream(streamId);
    const state = foldRecorded(decider.evolve, decider.initialState(), recorded);
    const version = recorded.at(-1)?.streamVersion ?? 0;
    if (options.expectedVersion !== undefined && options.expectedVersion !== version)
      throw new ConcurrencyError(options.expectedVersion, version);

    const events = decider.decide(command, state, options.context);
    if (events.length === 0) return { state, version, position: null, events };

    const metadata = (): EventMetadata => ({
      eventId: randomUUID(),
      occurredAt: options.context.now,
      actor: actorId(options.context.actor),
      correlationId: options.correlationId,
      causationId: commandId,
      ...(options.traceparent ? { traceparent: options.traceparent } : {}),
      ...(options.fencing ? { fencing: options.fencing } : {}),
      schemaVersion: SCHEMA_VERSION,
    });
    try {
      const appended = await eventStore.appendToStream(
        streamId,
        events.map((e) => ({ ...e, metadata: metadata() })),
        { expectedVersion: version },
      );
      const next = events.reduce((s, e) => decider.evolve(s, stamp(e, options.context.now)), state);
      return { state: next, version: appended.nextVersion, position: appended.position, events };
    } catch (error) {
      // With If-Match the conflict is the client's to resolve (412); without, decide again.
      if (!(error instanceof ConcurrencyError) || options.expectedVersion !== undefined) throw error;
      if (attempt >= MAX_ATTEMPTS)
        throw new ServiceUnavailableError('Too many concurrent writes to this item; retry shortly', 'WRITE_CONTENTION');
      await backoff(attempt);
    }
  }
};
