import { randomUUID } from 'node:crypto';
import { actorId, type CommandContext } from '../domain/actor.js';
import { AppError, ConcurrencyError, ServiceUnavailableError } from '../domain/errors.js';
import { foldRecorded, stamp, type Event, type EventMetadata, type LogPosition, type RecordedEvent, type Stamped } from '../domain/event.js';
import type { EventStore } from '../infra/eventstore/eventStore.js';
import { currentTraceparent, inSpan } from '../infra/tracing.js';

/** Told of every handled command: its type, outcome and duration. */
export type CommandObserver = (type: string, outcome: CommandOutcome, seconds: number) => void;
export type CommandOutcome = 'accepted' | 'unchanged' | 'replayed' | 'rejected' | 'conflict' | 'error';

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
  /**
   * The command's id (its events' causationId), when a rerun must be recognised: if the stream
   * already holds events of this id, the command is answered from them instead of run again.
   */
  commandId?: string;
  /** This may be a rerun (a request retried after a crash): read the stream even if `newStream`. */
  recovering?: boolean;
}>;

export type CommandResult<State> = Readonly<{
  state: State;
  version: number;
  /** Log position of the last appended event; null when the command changed nothing. */
  position: LogPosition | null;
  /** The position the answer reflects: the last event appended, or else the last one read. */
  reflects: LogPosition | null;
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
      const { result, outcome } = await decideAndAppend(deps.eventStore, decider, streamId, command, {
        ...options,
        traceparent: options.traceparent ?? currentTraceparent(),
      });
      deps.observe?.(command.type, outcome, seconds());
      return result;
    } catch (error) {
      deps.observe?.(command.type, outcomeOf(error), seconds());
      throw error;
    }
  });

/**
 * The result the command had when its events (those of `commandId`) were appended: the state
 * folded up to the last of them, its version and position. Null when they are not in the stream.
 */
const alreadyApplied = <E extends Event, State>(
  decider: Decider<never, E, State>,
  recorded: readonly RecordedEvent[],
  commandId: string,
): CommandResult<State> | null => {
  const last = recorded.map((e) => e.metadata.causationId).lastIndexOf(commandId);
  if (last < 0) return null;
  const upTo = recorded.slice(0, last + 1);
  return {
    state: foldRecorded(decider.evolve, decider.initialState(), upTo),
    version: upTo[last]!.streamVersion,
    position: upTo[last]!.position,
    reflects: upTo[last]!.position,
    events: upTo.filter((e) => e.metadata.causationId === commandId).map(({ type, data }) => ({ type, data })),
  };
};

const decideAndAppend = async <Command extends { type: string }, E extends Event, State>(
  eventStore: EventStore,
  decider: Decider<Command, E, State>,
  streamId: string,
  command: Command,
  options: CommandOptions,
): Promise<{ result: CommandResult<State>; outcome: CommandOutcome }> => {
  const commandId = options.commandId ?? randomUUID();
  for (let attempt = 1; ; attempt++) {
    // A stream named by an id generated for this command cannot exist yet: skip the first read.
    const recorded = attempt === 1 && options.newStream && !options.recovering ? [] : await eventStore.readStream(streamId);
    // Before the If-Match check: our own earlier run is what moved the stream on.
    const applied = options.commandId ? alreadyApplied(decider, recorded, commandId) : null;
    if (applied) return { result: applied, outcome: 'replayed' };
    const state = foldRecorded(decider.evolve, decider.initialState(), recorded);
    const version = recorded.at(-1)?.streamVersion ?? 0;
    if (options.expectedVersion !== undefined && options.expectedVersion !== version)
      throw new ConcurrencyError(options.expectedVersion, version);

    const events = decider.decide(command, state, options.context);
    if (events.length === 0) return { result: { state, version, position: null, reflects: recorded.at(-1)?.position ?? null, events }, outcome: 'unchanged' };

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
      return { result: { state: next, version: appended.nextVersion, position: appended.position, reflects: appended.position, events }, outcome: 'accepted' };
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
      if (options.expectedVersion !== undefined) {
        // The race may have been lost to another run of this very command: the re-read tells
        // (and otherwise answers 412 through the If-Match check). Else the conflict is the client's.
        if (options.commandId) continue;
        throw error;
      }
      // Without If-Match, decide again on the new state.
      if (attempt >= MAX_ATTEMPTS)
        throw new ServiceUnavailableError('Too many concurrent writes to this item; retry shortly', 'WRITE_CONTENTION');
      await backoff(attempt);
    }
  }
};
