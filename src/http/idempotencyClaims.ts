import type { Knex } from 'knex';

const TABLE = 'idempotency_keys';

export type StoredResponse = Readonly<{ status: number; headers: Record<string, string>; body: string | null }>;

/** The row of a key as another request finds it. */
export type KeyRecord = Readonly<{
  requestHash: string;
  createdAt: Date;
  /** The first response, once there is one. */
  response: StoredResponse | null;
  /** Not renewed for a lease: the request that claimed it died (or gave it up after a 5xx). */
  abandoned: boolean;
}>;

export type ClaimSettings = Readonly<{
  /** A claim not renewed for this long belongs to a request that died. */
  leaseMs: number;
  /** How often the owner renews its claims: all of them, in one statement. */
  renewEveryMs: number;
}>;

export const DEFAULT_CLAIM_SETTINGS: ClaimSettings = { leaseMs: 2000, renewEveryMs: 500 };

type Row = { request_hash: string; created_at: Date; status: number | null; headers: Record<string, string> | null; body: string | null; abandoned: boolean };

/**
 * The claims on Idempotency-Keys, in PostgreSQL. Whoever claims a key owns it while this process
 * renews it; a claim whose owner stopped renewing can be taken over, keeping its id. Lease ages
 * use the database's clock, so instances with skewed clocks agree on them.
 */
export const createClaims = (knex: Knex, settings: ClaimSettings = DEFAULT_CLAIM_SETTINGS) => {
  const owned = new Set<string>();
  let timer: NodeJS.Timeout | null = null;
  let renewing = false;
  const lease = `${settings.leaseMs} milliseconds`;

  const renew = async () => {
    if (renewing || owned.size === 0) return;
    renewing = true;
    await knex
      .raw(`UPDATE ${TABLE} SET renewed_at = clock_timestamp() WHERE claim_id = ANY(?::uuid[]) AND status IS NULL`, [[...owned]])
      // A failed renewal lets the lease lapse; a takeover then reruns the request, which is safe.
      .catch(() => undefined)
      .finally(() => (renewing = false));
  };
  const own = (claimId: string) => {
    owned.add(claimId);
    timer ??= setInterval(() => void renew(), settings.renewEveryMs).unref();
  };

  return {
    /** Claims a free key for this request: the new claim's id, or null when someone holds the key. */
    async claim(scope: string, key: string, requestHash: string, createdAt: Date): Promise<string | null> {
      const { rows } = await knex.raw(
        `INSERT INTO ${TABLE} (scope, key, request_hash, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING claim_id`,
        [scope, key, requestHash, createdAt],
      );
      const claimId = (rows[0]?.claim_id as string | undefined) ?? null;
      if (claimId) own(claimId);
      return claimId;
    },

    async find(scope: string, key: string): Promise<KeyRecord | null> {
      const { rows } = await knex.raw(
        `SELECT request_hash, created_at, status, headers, body, renewed_at < clock_timestamp() - ?::interval AS abandoned
         FROM ${TABLE} WHERE scope = ? AND key = ?`,
        [lease, scope, key],
      );
      const row = rows[0] as Row | undefined;
      if (!row) return null;
      const response = row.status === null ? null : { status: row.status, headers: row.headers ?? {}, body: row.body };
      return { requestHash: row.request_hash, createdAt: new Date(row.created_at), response, abandoned: row.abandoned };
    },

    /**
     * Takes over an abandoned claim, atomically: of several requests trying at once, one gets its
     * claim id (the others find it renewed again, and wait).
     */
    async takeOver(scope: string, key: string): Promise<string | null> {
      const { rows } = await knex.raw(
        `UPDATE ${TABLE} SET renewed_at = clock_timestamp(), attempts = attempts + 1
         WHERE scope = ? AND key = ? AND status IS NULL AND renewed_at < clock_timestamp() - ?::interval
         RETURNING claim_id`,
        [scope, key, lease],
      );
      const claimId = (rows[0]?.claim_id as string | undefined) ?? null;
      if (claimId) own(claimId);
      return claimId;
    },

    /** Keeps the first response; a second owner's later one changes nothing. */
    complete: (claimId: string, response: StoredResponse, completedAt: Date) =>
      knex(TABLE)
        .where({ claim_id: claimId, status: null })
        .update({ status: response.status, headers: JSON.stringify(response.headers), body: response.body, completed_at: completedAt }),

    /** After a 5xx: the next retry takes the claim over at once and reruns the request under it. */
    release: (claimId: string) => knex(TABLE).where({ claim_id: claimId, status: null }).update({ renewed_at: knex.raw("'-infinity'::timestamptz") }),

    /** Stops renewing: the request is over, or its client went away (a retry may then take over). */
    disown(claimId: string) {
      owned.delete(claimId);
      if (owned.size === 0 && timer) {
        clearInterval(timer);
        timer = null;
      }
    },

    /** Forgets a key whose 24 hours are over, so it can be claimed afresh. */
    expire: (scope: string, key: string, createdAt: Date) => knex(TABLE).where({ scope, key, created_at: createdAt }).delete(),

    /** Forgets keys created before `before`. */
    sweep: (before: Date) => knex(TABLE).where('created_at', '<', before).delete(),
  };
};
export type Claims = ReturnType<typeof createClaims>;
