import express, { Router, type RequestHandler } from 'express';
import { AppError, ValidationError } from '../domain/errors.js';
import type { Logger } from '../infra/logger.js';
import { correlationId, requestLog } from './context.js';
import { notFoundRoute, problemHandler } from './problem.js';
import { MAX_JSON_DEPTH, nestedDeeperThan } from './validation.js';

export type Routes = (router: Router) => void;

export const BODY_LIMIT = '100kb';

/** Bodies are JSON or nothing: anything else is refused before a route sees it. */
const requireJsonBody: RequestHandler = (req, _res, next) => {
  const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
  if (hasBody && !req.is(['application/json', 'application/*+json']))
    return next(new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Request bodies must be application/json'));
  next();
};

/** Checked once, right after parsing and before anything walks the body (sign-in included). */
const limitJsonDepth: RequestHandler = (req, _res, next) => {
  if (nestedDeeperThan(req.body, MAX_JSON_DEPTH))
    return next(new ValidationError(`The request body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`, [], 'JSON_TOO_DEEP'));
  next();
};

/** While the server drains, readiness is refused at once so a balancer stops sending; the rest is still served. */
const notReadyWhen =
  (shutdown: AbortSignal): RequestHandler =>
  (req, res, next) => {
    if (!shutdown.aborted || req.path !== '/health/ready') return next();
    res.status(503).json({ status: 'unavailable', checks: { server: { status: 'down', latencyMs: 0, error: 'shutting down' } } });
  };

export const createApp = (deps: {
  logger: Logger;
  /** Aborted when the server starts draining (SIGTERM). */
  shutdown?: AbortSignal;
  /** Runs first on every request (tracing and metrics). */
  observe?: RequestHandler;
  /** One log line per request (default on). */
  requestLogs?: boolean;
  publicRoutes: readonly Routes[];
  /** Runs before authentication on protected routes (e.g. the per-IP limit of anonymous calls). */
  beforeAuthentication?: readonly RequestHandler[];
  authenticate: RequestHandler;
  /** Runs after authentication, before the protected routes (e.g. Idempotency-Key). */
  protectedMiddleware?: readonly RequestHandler[];
  protectedRoutes: readonly Routes[];
}) => {
  const app = express();
  app.disable('x-powered-by');
  // ETags are the task versions, set by the routes; no content hashes on other responses.
  app.set('etag', false);
  app.set('trust proxy', 'loopback');
  app.set('query parser', 'simple');
  if (deps.observe) app.use(deps.observe);
  app.use(correlationId);
  if (deps.requestLogs !== false) app.use(requestLog(deps.logger));
  if (deps.shutdown) app.use(notReadyWhen(deps.shutdown));
  app.use(requireJsonBody, express.json({ limit: BODY_LIMIT, strict: false, type: ['application/json', 'application/*+json'] }), limitJsonDepth);

  const open = Router();
  deps.publicRoutes.forEach((mount) => mount(open));
  app.use(open);

  const guarded = Router();
  deps.protectedRoutes.forEach((mount) => mount(guarded));
  app.use(...(deps.beforeAuthentication ?? []), deps.authenticate, ...(deps.protectedMiddleware ?? []), guarded);

  app.use(notFoundRoute);
  app.use(problemHandler(deps.logger));
  return app;
};
