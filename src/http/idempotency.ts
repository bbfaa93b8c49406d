import { createHash } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { Knex } from 'knex';
import { AppError, ConflictError, ValidationError } from '../domain/errors.js';
import { actorOf, type IdempotentRun } from './context.js';
import { createClaims, DEFAULT_CLAIM_SETTINGS, type ClaimSettings, type Claims, type StoredResponse } from './idempotencyClaims.js';

const KEY = /^[\x21-\x7e]{1,255}$/;
const TTL_MS = 24 * 3600 * 1000;
/** A duplicate waits this long for a live first request, within the 10 s no request may exceed. */
const WAIT_FOR_FIRST_MS = 8000;
const POLL_MS = 25;
/** The response waits this long at most for its outcome to be kept (a slow database must not hold it). */
const RECORD_WAIT_MS = 1000;
const REPLAYED_HEADERS = ['content-type', 'location', 'etag', 'consistency-token'];

/**
 * JSON with sorted keys, so the same body written in another key order is the same request.
 * (Bodies are at most MAX_JSON_DEPTH deep by the time they get here.)
 */
const canonical = (value: unknown): string =>
  JSON.stringify(value ?? null, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
      : v,
  );

const replay = (res: Response, response: StoredResponse) => {
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  res.setHeader('Idempotent-Replayed', 'true');
  res.status(response.status).end(response.body ?? undefined);
};

type Outcome = { replay: StoredResponse } | { run: IdempotentRun };

/**
 * Claims the key, or waits for the request that holds it: its stored response is replayed; if
 * its owner died (or gave up after a 5xx) this request takes the claim over and runs again.
 */
const claimOrWait = async (claims: Claims, scope: string, key: string, requestHash: string, now: () => Date): Promise<Outcome> => {
  for (const deadline = Date.now() + WAIT_FOR_FIRST_MS; ; ) {
    const claimId = await claims.claim(scope, key, requestHash, now());
    if (claimId) return { run: { claimId, recovering: false } };
    const record = await claims.find(scope, key);
    if (!record) continue;
    if (now().getTime() - record.createdAt.getTime() > TTL_MS) {
      await claims.expire(scope, key, record.createdAt);
      continue;
    }
    if (record.requestHash !== requestHash)
      throw new AppError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used with a different request');
    if (record.response) return { replay: record.response };
    if (record.abandoned) {
      const taken = await claims.takeOver(scope, key);
      if (taken) return { run: { claimId: taken, recovering: true } };
      continue;
    }
    if (Date.now() > deadline) throw new ConflictError('A request with this Idempotency-Key is still being processed', 'IDEMPOTENCY_IN_PROGRESS');
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
};

/** Captures what the route sends and keeps it under the claim before it goes out (a 5xx releases the claim instead). */
const recordResponse = (res: Response, claims: Claims, claimId: string, now: () => Date) => {
  const end = res.end.bind(res) as (...args: unknown[]) => Response;
  res.once('close', () => claims.disown(claimId));
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    const body = chunk !== undefined && typeof chunk !== 'function' ? (Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk)) : null;
    const headers = Object.fromEntries(REPLAYED_HEADERS.filter((h) => res.getHeader(h) !== undefined).map((h) => [h, String(res.getHeader(h))]));
    const settle = res.statusCode >= 500 ? claims.release(claimId) : claims.complete(claimId, { status: res.statusCode, headers, body }, now());
    // The response goes out once the outcome is recorded, so a retry right after it replays.
    // If recording fails or lags, the claim lapses and a retry takes it over: it is rebuilt from the log.
    let sent = false;
    const send = () => {
      if (sent) return;
      sent = true;
      claims.disown(claimId);
      end(chunk, ...rest);
    };
    settle.then(send, send);
    setTimeout(send, RECORD_WAIT_MS).unref();
    return res;
  }) as Response['end'];
};

/**
 * Idempotency-Key on POST, PATCH and DELETE: the first request with a key claims it, and its
 * response (status, the headers that matter, body) is stored; the same key and body within 24 h
 * replays that response without running the command again; another body → 422. A concurrent
 * duplicate waits for the first to finish. The route's commands derive their ids from the claim
 * (`res.locals.idempotency`), so a rerun after a crash or a 5xx decides the same and appends
 * nothing twice.
 */
export const idempotency = (knex: Knex, now: () => Date = () => new Date(), settings: ClaimSettings = DEFAULT_CLAIM_SETTINGS): RequestHandler => {
  const claims = createClaims(knex, settings);
  return async (req, res, next) => {
    const key = req.get('idempotency-key');
    if (key === undefined || !['POST', 'PATCH', 'DELETE'].includes(req.method)) return next();
    if (!KEY.test(key))
      throw new ValidationError('Invalid Idempotency-Key', [{ field: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' }]);
    const scope = actorOf(res).userId;
    const requestHash = createHash('sha256').update(`${req.method} ${req.originalUrl}\n${canonical(req.body)}`).digest('hex');

    const outcome = await claimOrWait(claims, scope, key, requestHash, now);
    if ('replay' in outcome) return replay(res, outcome.replay);
    res.locals.idempotency = outcome.run;
    recordResponse(res, claims, outcome.run.claimId, now);
    next();
  };
};

/** Forgets keys older than 24 hours. */
export const sweepIdempotencyKeys = (knex: Knex, now: () => Date = () => new Date()) =>
  createClaims(knex).sweep(new Date(now().getTime() - TTL_MS));
