import { randomUUID } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { Actor } from '../domain/actor.js';
import { ForbiddenError } from '../domain/errors.js';
import type { CommandOptions } from '../commands/handleCommand.js';
import type { Logger } from '../infra/logger.js';

const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Takes X-Correlation-Id from the request when it is sane, otherwise makes one; echoes it back. */
export const correlationId: RequestHandler = (req, res, next) => {
  const given = req.get('x-correlation-id');
  const id = given && CORRELATION_ID.test(given) ? given : randomUUID();
  res.locals.correlationId = id;
  res.setHeader('X-Correlation-Id', id);
  next();
};

/** One structured line per request, written when the response is finished. */
export const requestLog =
  (logger: Logger): RequestHandler =>
  (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const actor = res.locals.actor as Actor | undefined;
      logger.info('request', {
        method: req.method,
        route: req.route?.path ? `${req.baseUrl}${req.route.path}` : undefined,
        path: req.path,
        status: res.statusCode,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
        correlationId: res.locals.correlationId,
        userId: actor?.kind === 'user' ? actor.userId : undefined,
      });
    });
    next();
  };

/**
 * `res.locals.idempotency`, set by the Idempotency-Key middleware: the claim this run of the request
 * works under (a retry that takes over a dead request's claim keeps its id, and is `recovering`).
 */
export type IdempotentRun = Readonly<{ claimId: string; recovering: boolean }>;

export const actorOf = (res: Response): Actor & { kind: 'user' } => res.locals.actor as Actor & { kind: 'user' };

export const requireAdmin = (res: Response) => {
  if (actorOf(res).role !== 'admin') throw new ForbiddenError('This needs the admin role', 'ADMIN_ONLY');
};

/** Under an Idempotency-Key the claim id is the command id, so a rerun of the request is recognised in the log. */
export const commandOptions = (res: Response, now: () => Date, expectedVersion?: number): CommandOptions => {
  const run = res.locals.idempotency as IdempotentRun | undefined;
  return {
    context: { now: now().toISOString(), actor: actorOf(res) },
    correlationId: res.locals.correlationId as string,
    ...(expectedVersion !== undefined ? { expectedVersion } : {}),
    ...(run ? { commandId: run.claimId, recovering: run.recovering } : {}),
  };
};
