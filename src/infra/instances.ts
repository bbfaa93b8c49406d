import type { Knex } from 'knex';

const HEARTBEAT_MS = 1000;
/** An instance whose heartbeat is older than this is gone. */
const ALIVE_WITHIN_SECONDS = 3;
/** How long a heartbeat that saw no other instance is believed. */
const TRUST_MS = 1500;
/** A newcomer answers no write before every other instance has seen it (TRUST_MS + a heartbeat, and a margin). */
const NEWCOMER_WAIT_MS = 2500;

/**
 * The API instances of a cluster, from their heartbeats in PostgreSQL. An instance that knows it
 * is alone has seen every write answered since it became alone, so it may keep read-your-writes
 * positions in memory; with others around they live in the shared store. `onAlone` is told when
 * this instance becomes alone (to take over what the others left).
 */
export const createInstanceRegistry = (knex: Knex, instanceId: string, { onAlone }: { onAlone: () => Promise<void> }) => {
  let seenAt = -Infinity;
  /** When the heartbeats began to see no other instance (performance.now()); Infinity while others are there. */
  let aloneSince = Infinity;
  let writableAt: Promise<void> | null = null;
  let stopped = false;

  const beat = async () => {
    const { rows } = await knex.raw<{ rows: { others: number }[] }>(
      `WITH me AS (
         INSERT INTO api_instances (id) VALUES (?) ON CONFLICT (id) DO UPDATE SET heartbeat_at = now() RETURNING 1)
       SELECT (SELECT count(*)::int FROM api_instances WHERE id <> ? AND heartbeat_at > now() - make_interval(secs => ?)) AS others
       FROM me`,
      [instanceId, instanceId, ALIVE_WITHIN_SECONDS],
    );
    const others = rows[0]?.others ?? 1;
    writableAt ??= others > 0 ? new Promise((resolve) => setTimeout(resolve, NEWCOMER_WAIT_MS).unref()) : Promise.resolve();
    if (others > 0) aloneSince = Infinity;
    else if (aloneSince === Infinity) {
      await onAlone();
      aloneSince = performance.now();
    }
    seenAt = performance.now();
  };
  let beating = false;
  const tick = async () => {
    if (beating || stopped) return;
    beating = true;
    try {
      await beat();
    } catch {
      aloneSince = Infinity;
    } finally {
      beating = false;
    }
  };
  const timer = setInterval(() => void tick(), HEARTBEAT_MS);
  timer.unref();
  // Not knowing whether others are there counts as their being there.
  const started = tick().then(() => {
    writableAt ??= new Promise((resolve) => setTimeout(resolve, NEWCOMER_WAIT_MS).unref());
  });

  return {
    /** True while a recent heartbeat saw no other API instance alive. */
    alone: () => aloneSince !== Infinity && performance.now() - seenAt < TRUST_MS && !stopped,
    /** When this instance last became alone (performance.now()); Infinity while it is not. */
    aloneSince: () => aloneSince,
    /** Resolves once this instance may answer writes (a newcomer waits until the others know it). */
    async writable() {
      await started;
      await writableAt;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await started;
      await knex('api_instances').where({ id: instanceId }).delete().catch(() => undefined);
    },
  };
};
export type InstanceRegistry = ReturnType<typeof createInstanceRegistry>;
