import type { Knex } from 'knex';
import { LOG_START, type LogPosition } from '../domain/event.js';
import type { AppendInFlight, EventStore } from '../infra/eventstore/eventStore.js';
import { readLeaseRecords, type LeaseRecord } from '../infra/lock/lock.js';
import { formatPosition, readCheckpointDetails, rebuildCheckpointName } from '../projections/checkpoints.js';
import type { BucketDifference } from '../projections/completeness.js';
import { readFailures, readParkedEvents, type FailedEvent, type ParkedEvent, type ProjectionFailure } from '../projections/failures.js';
import { describeFinding, readCompletenessFindings, type CompletenessFinding } from './completeness.js';
import { PROJECTION_NAMES, SUBSCRIPTIONS } from './projections.js';

/**
 * `failed`: stopped on an event it cannot apply, until `projections retry` or `park`.
 * `retrying`: its runner's last try failed for want of a dependency (or outside any event) and
 * it tries again by itself.
 */
export type ProjectionState = 'live' | 'retrying' | 'rebuilding' | 'failed' | 'stopped';

export type RebuildStatus = Readonly<{ checkpoint: string; lagEvents: number; running: boolean; holder: string | null }>;

/** An event as status shows it: its position as `tx/pos`. */
export type EventRef = Readonly<{ eventId: string; position: string; streamId: string; streamVersion: number; type: string }>;

export type FailureStatus = EventRef & Readonly<{ error: string; attempts: number; failedAt: string }>;
export type ParkedStatus = EventRef & Readonly<{ error: string | null; reason: string; operator: string; at: string }>;
export type CompletenessStatus = Readonly<{
  checkedAt: string;
  checkpoint: string;
  missing: number;
  doubled: number;
  /** "caught up but missing N events" and the like; null when the counts match the log. */
  problem: string | null;
  buckets: readonly BucketDifference[];
}>;

export type ProjectionStatus = Readonly<{
  name: string;
  kind: 'read-model' | 'subscription';
  state: ProjectionState;
  /** `tx/pos` of the last applied event; null before the projection first ran. */
  checkpoint: string | null;
  lagEvents: number;
  /** How long the oldest event not yet applied has been waiting; 0 when caught up. */
  lagSeconds: number;
  /** The instance holding `projection:<name>`, when its lease is live. */
  owner: string | null;
  /** The error it stopped on when failed, or the one its runner retries after. */
  lastError: string | null;
  lastErrorAt: string | null;
  /** The event it stopped on, when failed. */
  failure: FailureStatus | null;
  /** Events an operator parked: the projection skipped them. */
  parked: readonly ParkedStatus[];
  /** The last comparison of its counts with the log; null before the first. */
  completeness: CompletenessStatus | null;
  rebuild: RebuildStatus | null;
}>;

export type StatusDeps = Readonly<{
  knex: Knex;
  eventStore: EventStore;
  now?: () => Date;
  /** The lease table as the caller already read it (the health route shows it too). */
  leases?: readonly LeaseRecord[];
}>;

const eventRef = (e: FailedEvent): EventRef => ({ eventId: e.eventId, position: formatPosition(e.position), streamId: e.streamId, streamVersion: e.streamVersion, type: e.type });
const failureStatus = (f: ProjectionFailure): FailureStatus => ({ ...eventRef(f), error: f.error, attempts: f.attempts, failedAt: f.failedAt });
export const parkedStatus = (p: ParkedEvent): ParkedStatus => ({ ...eventRef(p), error: p.error, reason: p.reason, operator: p.operator, at: p.at });
const completenessStatus = (f: CompletenessFinding, caughtUp: boolean): CompletenessStatus => ({
  checkedAt: f.checkedAt,
  checkpoint: f.checkpoint,
  missing: f.missing,
  doubled: f.doubled,
  problem: describeFinding(f, caughtUp) || null,
  buckets: f.buckets,
});

/** Each projection's checkpoint, lag, owner and state, read from the shared tables: right from any process. */
export const projectionStatus = async ({ knex, eventStore, now = () => new Date(), ...given }: StatusDeps): Promise<ProjectionStatus[]> => {
  const [checkpoints, leases, failures, parked, findings] = await Promise.all([
    readCheckpointDetails(knex),
    given.leases ?? readLeaseRecords(knex),
    readFailures(knex),
    readParkedEvents(knex),
    readCompletenessFindings(knex),
  ]);
  const liveHolder = (lock: string) => leases.find((l) => l.name === lock && l.live)?.holder ?? null;

  // The age of the oldest committed event not applied yet, also while the gap-safe read holds it back.
  const lagOf = async (after: LogPosition) => {
    const lag = await eventStore.lagAfter(after);
    if (lag.events === 0 || !lag.oldestRecordedAt) return { events: lag.events, seconds: 0 };
    return { events: lag.events, seconds: Math.max(0, (now().getTime() - Date.parse(lag.oldestRecordedAt)) / 1000) };
  };

  return Promise.all(
    PROJECTION_NAMES.map(async (name): Promise<ProjectionStatus> => {
      const live = checkpoints.get(name);
      const shadow = checkpoints.get(rebuildCheckpointName(name));
      const [lag, rebuildLag] = await Promise.all([lagOf(live?.position ?? LOG_START), shadow ? eventStore.lagAfter(shadow.position) : null]);
      const owner = liveHolder(`projection:${name}`);
      const rebuildHolder = liveHolder(`rebuild:${name}`);
      const failure = failures.get(name) ?? null;
      const retryingAfter = live?.lastError ?? null;
      const finding = findings.get(name);
      return {
        name,
        kind: SUBSCRIPTIONS.includes(name) ? 'subscription' : 'read-model',
        // An error left on record by a runner that no instance runs any more is no retrying.
        state: failure ? 'failed' : retryingAfter && owner ? 'retrying' : shadow ? 'rebuilding' : owner ? 'live' : 'stopped',
        checkpoint: live ? formatPosition(live.position) : null,
        lagEvents: lag.events,
        lagSeconds: Math.round(lag.seconds * 10) / 10,
        owner,
        lastError: failure?.error ?? retryingAfter,
        lastErrorAt: failure?.failedAt ?? live?.lastErrorAt ?? null,
        failure: failure ? failureStatus(failure) : null,
        parked: (parked.get(name) ?? []).map(parkedStatus),
        completeness: finding ? completenessStatus(finding, lag.events === 0) : null,
        rebuild: shadow
          ? { checkpoint: formatPosition(shadow.position), lagEvents: rebuildLag!.events, running: rebuildHolder !== null, holder: rebuildHolder }
          : null,
      };
    }),
  );
};

export type AppendWithAge = AppendInFlight & Readonly<{ ageSeconds: number }>;

/** The oldest append in flight with its age, or null: every gap-safe reader waits for it to end. */
export const oldestAppendInFlight = async (eventStore: EventStore, now = () => new Date()): Promise<AppendWithAge | null> => {
  const oldest = await eventStore.oldestAppendInFlight();
  if (!oldest) return null;
  const ageSeconds = oldest.startedAt ? Math.max(0, (now().getTime() - Date.parse(oldest.startedAt)) / 1000) : 0;
  return { ...oldest, ageSeconds: Math.round(ageSeconds * 10) / 10 };
};

/** What an operator must look at, one line each: failures and incomplete projections. */
export const statusProblems = (statuses: readonly ProjectionStatus[]): string[] =>
  statuses.flatMap((s) => [
    ...(s.failure ? [`${s.name}: failed on event ${s.failure.eventId} (${s.failure.streamId} v${s.failure.streamVersion}): ${s.failure.error}`] : []),
    ...(s.completeness?.problem ? [`${s.name}: ${s.completeness.problem}`] : []),
  ]);
