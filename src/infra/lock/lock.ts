import type { Knex } from 'knex';

/** A held leader lock. `lost` aborts the moment the holder can no longer be sure it holds it. */
export type Lease = Readonly<{
  name: string;
  /** Grows with every new lease of this lock; stamped on the events the holder emits. */
  fencingToken: bigint;
  lost: AbortSignal;
  release: () => Promise<void>;
}>;

/** The leader-lock port. Every adapter runs `test/int/lock.contract.ts`. */
export interface LeaderLock {
  /** Takes the named lock if nobody holds it; null when someone else does. */
  tryAcquire(name: string): Promise<Lease | null>;
  close(): Promise<void>;
}

export type LockSettings = Readonly<{
  /** How long a lease lasts without renewal; a dead holder's lock frees up after this. */
  leaseMs: number;
  instanceId: string;
}>;

export const DEFAULT_LEASE_MS = 10_000;

/**
 * Records the holder and issues the next fencing token in PostgreSQL, whichever adapter holds
 * the lock, so `/health` and `projections status` can say who holds what.
 */
export const recordLease = async (knex: Knex, name: string, settings: LockSettings): Promise<bigint> => {
  const expiresAt = new Date(Date.now() + settings.leaseMs);
  const { rows } = await knex.raw(
    `INSERT INTO lock_leases (name, holder, fencing_token, acquired_at, renewed_at, expires_at)
     VALUES (?, ?, 1, now(), now(), ?)
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, fencing_token = lock_leases.fencing_token + 1,
       acquired_at = now(), renewed_at = now(), expires_at = excluded.expires_at
     RETURNING fencing_token`,
    [name, settings.instanceId, expiresAt],
  );
  return BigInt(rows[0].fencing_token);
};

export const renewLeaseRecord = (knex: Knex, name: string, settings: LockSettings, token: bigint) =>
  knex('lock_leases')
    .where({ name, holder: settings.instanceId, fencing_token: token.toString() })
    .update({ renewed_at: knex.fn.now(), expires_at: new Date(Date.now() + settings.leaseMs) });

export const releaseLeaseRecord = (knex: Knex, name: string, settings: LockSettings, token: bigint) =>
  knex('lock_leases')
    .where({ name, holder: settings.instanceId, fencing_token: token.toString() })
    .update({ expires_at: knex.fn.now() });

export type LeaseRecord = Readonly<{ name: string; holder: string; fencingToken: string; expiresAt: string; live: boolean }>;

export const readLeaseRecords = async (knex: Knex): Promise<LeaseRecord[]> => {
  const rows = await knex('lock_leases').select('name', 'holder', 'fencing_token', 'expires_at', knex.raw('expires_at > now() AS live')).orderBy('name');
  return rows.map((r: { name: string; holder: string; fencing_token: string; expires_at: Date; live: boolean }) => ({
    name: r.name,
    holder: r.holder,
    fencingToken: String(r.fencing_token),
    expiresAt: new Date(r.expires_at).toISOString(),
    live: r.live,
  }));
};

/**
 * Renews a lease every third of its length; a failed renewal aborts `lost` at once, so the
 * holder stops working before anyone else can have taken over.
 */
export const keepRenewed = (leaseMs: number, renew: () => Promise<boolean>, onLost: () => void) => {
  let stopped = false;
  const timer = setInterval(async () => {
    if (stopped) return;
    const ok = await renew().catch(() => false);
    if (!ok && !stopped) {
      stopped = true;
      clearInterval(timer);
      onLost();
    }
  }, Math.max(100, Math.floor(leaseMs / 3)));
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
};

/** What an adapter holds under a lease: how to renew it, let it go, and notice it is gone. */
export type Hold = Readonly<{
  renew: () => Promise<void>;
  release: () => Promise<void>;
  /** Calls back if the adapter learns on its own that the hold is gone (e.g. a dropped connection). */
  watch?: (lost: () => void) => void;
}>;

/**
 * Turns an adapter's hold into a Lease: records the holder and fencing token, renews both, and
 * on a failed renewal aborts `lost` and lets go. Shared by every lock adapter.
 */
export const leaseOf = async (knex: Knex, name: string, settings: LockSettings, hold: Hold, held: Set<Lease>): Promise<Lease> => {
  const fencingToken = await recordLease(knex, name, settings).catch(async (error) => {
    await hold.release().catch(() => undefined);
    throw error;
  });
  const controller = new AbortController();
  let ended = false;
  const end = async (lost: boolean) => {
    if (ended) return;
    ended = true;
    stopRenewing();
    held.delete(lease);
    if (lost) controller.abort(new Error(`lost the lock ${name}`));
    else await releaseLeaseRecord(knex, name, settings, fencingToken).catch(() => undefined);
    await hold.release().catch(() => undefined);
  };
  const stopRenewing = keepRenewed(
    settings.leaseMs,
    async () => {
      await hold.renew();
      return (await renewLeaseRecord(knex, name, settings, fencingToken)) === 1;
    },
    () => void end(true),
  );
  hold.watch?.(() => void end(true));
  const lease: Lease = { name, fencingToken, lost: controller.signal, release: () => end(false) };
  held.add(lease);
  return lease;
};
