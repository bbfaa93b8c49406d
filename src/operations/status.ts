import type { Knex } from 'knex';
import { LOG_START, type LogPosition } from '../domain/event.js';
import type { EventStore } from '../infra/eventstore/eventStore.js';
import { readLeaseRecords, type LeaseRecord } from '../infra/lock/lock.js';
import { readCheckpointDetails, rebuildCheckpointName } from '../projections/checkpoints.js';
import { PROJECTION_NAMES, SUBSCRIPTIONS } from './projections.js';

export type ProjectionState = 'live' | 'rebuilding' | 'failed' | 'stopped';

export type RebuildStatus = Readonly<{ checkpoint: string; lagEvents: number; running: boolean; holder: string | null }>;

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
  lastError: string | null;
  lastErrorAt: string | null;
  rebuild: RebuildStatus | null;
}>;

export type StatusDeps = Readonly<{
  knex: Knex;
  eventStore: EventStore;
  now?: () => Date;
  /** The lease table as the caller already read it (the health route shows it too). */
  leases?: readonly LeaseRecord[];
}>;

export const formatPosition = (at: LogPosition) => `${at.tx}/${at.pos}`;

/** Each projection's checkpoint, lag, owner and state, read from the shared tables: right from any process. */
export const projectionStatus = async ({ knex, eventStore, now = () => new Date(), ...given }: StatusDeps): Promise<ProjectionStatus[]> => {
  const [checkpoints, leases] = await Promise.all([readCheckpointDetails(knex), given.leases ?? readLeaseRecords(knex)]);
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
      const lastError = live?.lastError ?? null;
      return {
        name,
        kind: SUBSCRIPTIONS.includes(name) ? 'subscription' : 'read-model',
        state: lastError ? 'failed' : shadow ? 'rebuilding' : owner ? 'live' : 'stopped',
        checkpoint: live ? formatPosition(live.position) : null,
        lagEvents: lag.events,
        lagSeconds: Math.round(lag.seconds * 10) / 10,
        owner,
        lastError,
        lastErrorAt: live?.lastErrorAt ?? null,
        rebuild: shadow
          ? { checkpoint: formatPosition(shadow.position), lagEvents: rebuildLag!.events, running: rebuildHolder !== null, holder: rebuildHolder }
          : null,
      };
    }),
  );
};
