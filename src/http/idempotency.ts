import { createHash } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { Knex } from 'knex';
import { AppError, ConflictError, ValidationError } from '../domain/errors.js';
import { actorOf } from './context.js';

const TABLE = 'idempotency_keys';
const KEY = /^[\x21-\x7e]{1,255}$/;
const TTL_MS = 24 * 3600 * 1000;
/** A claim never completed after this long belongs to a request that died with its process. */
const ABANDONED_MS = 60_000;
const WAIT_FOR_FIRST_MS = 10_000;
const REPLAYED_HEADERS = ['content-type', 'location', 'etag'];

type KeyRow = {
  scope: string;
  key: string;
  request_hash: string;
  status: number | null;
  headers: Record<string, string> | null;
  body: string | null;
  created_at: Date;
};

/** JSON with sorted keys, so the same body written in another key order is the same request. */
const canonical = (value: unknown): string =>
  Array.isArray(value)
    ? `[${value.map(canonical).join(',')}]`
    : value !== null && typeof value === 'object'
      ? `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`
      : JSON.stringify(value) ?? 'null';

const replay = (res: Response, row: KeyRow) => {
  for (const [name, value] of Object.entries(row.headers ?? {})) res.setHeader(name, value);
  res.setHeader('Idempotent-Replayed', 'true');
  res.status(row.status!).end(row.body ?? undefined);
};

/**
 * Idempotency-Key on POST, PATCH and DELETE: the first request with a key claims it, and its
 * response (status, the headers that matter, body) is stored; the same key and body within 24 h
 * replays that response without running the command again; another body → 422. A concurrent
 * duplicate waits for the first to finish. 5xx responses are not kept, so the client can retry.
 */
export const idempotency =
  (knex: Knex, now: () => Date = () => new Date()): RequestHandler =>
  async (req, res, next) => {
    const key = req.get('idempotency-key');
    if (key === undefined || !['POST', 'PATCH', 'DELETE'].includes(req.method)) return next();
    if (!KEY.test(key))
      throw new ValidationError('Invalid Idempotency-Key', [{ field: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' }]);
    const scope = actorOf(res).userId;
    const requestHash = createHash('sha256').update(`${req.method} ${req.originalUrl}\n${canonical(req.body ?? null)}`).digest('hex');

    for (const deadline = Date.now() + WAIT_FOR_FIRST_MS; ; ) {
      const claimed = await knex.raw(
        `INSERT INTO ${TABLE} (scope, key, request_hash, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING key`,
        [scope, key, requestHash, now()],
      );
      if (claimed.rows.length) break;
      const row = await knex<KeyRow>(TABLE).where({ scope, key }).first();
      if (!row) continue;
      const age = now().getTime() - new Date(row.created_at).getTime();
      if (age > TTL_MS || (row.status === null && age > ABANDONED_MS)) {
        await knex(TABLE).where({ scope, key, created_at: row.created_at }).delete();
        continue;
      }
      if (row.request_hash !== requestHash)
        throw new AppError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used with a different request');
      if (row.status !== null) return replay(res, row);
      if (Date.now() > deadline)
        throw new ConflictError('A request with this Idempotency-Key is still being processed', 'IDEMPOTENCY_IN_PROGRESS');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }

    // Capture what the route sends, then keep it (or release the key if the server failed).
    const end = res.end.bind(res) as (...args: unknown[]) => Response;
    let body: string | null = null;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (chunk !== undefined && typeof chunk !== 'function') body = Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk);
      const status = res.statusCode;
      const headers = Object.fromEntries(
        REPLAYED_HEADERS.filter((h) => res.getHeader(h) !== undefined).map((h) => [h, String(res.getHeader(h))]),
      );
      const settle =
        status >= 500
          ? knex(TABLE).where({ scope, key }).delete()
          : knex(TABLE).where({ scope, key }).update({ status, headers: JSON.stringify(headers), body, completed_at: now() });
      // The response goes out once the outcome is recorded, so a retry right after it replays.
      settle.then(
        () => end(chunk, ...rest),
        () => end(chunk, ...rest),
      );
      return res;
    }) as Response['end'];
    next();
  };

/** Forgets keys older than 24 hours. */
export const sweepIdempotencyKeys = (knex: Knex, now: () => Date = () => new Date()) =>
  knex(TABLE).where('created_at', '<', new Date(now().getTime() - TTL_MS)).delete();
