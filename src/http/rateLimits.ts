import type { RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit, type Store } from 'express-rate-limit';
import { AppError } from '../domain/errors.js';
import type { Actor } from '../domain/actor.js';
import { withInProcessFallback } from './rateLimitStore.js';

export type RateLimitSettings = Readonly<{
  perMinute: number;
  authPerMinute: number;
  loginMaxFailures: number;
  /** A shared store (Redis) for a cluster; in-process counters when absent. */
  store?: (prefix: string) => Store;
}>;

const LOGIN_FAILURE_WINDOW_MS = 15 * 60_000;

// express-rate-limit has set Retry-After by the time the handler runs.
const tooMany = (message: string, code: string): RequestHandler => (_req, _res, next) => next(new AppError(429, code, message));

const common = (settings: RateLimitSettings, prefix: string) => ({
  standardHeaders: 'draft-6' as const,
  legacyHeaders: false,
  // If the shared counter store (Redis) fails, count in-process rather than let everything through.
  ...(settings.store ? { store: withInProcessFallback(settings.store(prefix)) } : {}),
});

/**
 * The three limits: per signed-in client on the API, per IP on /auth/*, and failed logins per
 * account. Each answers 429 problem+json with Retry-After, and sets RateLimit-* headers.
 */
export const createRateLimits = (settings: RateLimitSettings) => ({
  api: rateLimit({
    ...common(settings, 'api:'),
    windowMs: 60_000,
    limit: settings.perMinute,
    keyGenerator: (req, res) => {
      const actor = res.locals.actor as Actor | undefined;
      return actor?.kind === 'user' ? `user:${actor.userId}` : `ip:${ipKeyGenerator(req.ip ?? 'unknown')}`;
    },
    handler: tooMany('Too many requests; slow down', 'RATE_LIMITED'),
  }),

  /** Calls without a token are counted per IP, so they cannot hammer protected routes for free. */
  anonymous: rateLimit({
    ...common(settings, 'anon:'),
    windowMs: 60_000,
    limit: settings.perMinute,
    skip: (req) => req.get('authorization') !== undefined,
    keyGenerator: (req) => ipKeyGenerator(req.ip ?? 'unknown'),
    handler: tooMany('Too many requests; slow down', 'RATE_LIMITED'),
  }),

  auth: rateLimit({
    ...common(settings, 'auth:'),
    windowMs: 60_000,
    limit: settings.authPerMinute,
    keyGenerator: (req) => ipKeyGenerator(req.ip ?? 'unknown'),
    handler: tooMany('Too many sign-in requests from this address; slow down', 'RATE_LIMITED'),
  }),

  /** Counts only answers that were wrong credentials, per e-mail address, over 15 minutes. */
  loginFailures: rateLimit({
    ...common(settings, 'login:'),
    windowMs: LOGIN_FAILURE_WINDOW_MS,
    limit: settings.loginMaxFailures,
    skip: (req) => typeof req.body?.email !== 'string',
    keyGenerator: (req) => String(req.body.email).trim().toLowerCase(),
    skipSuccessfulRequests: true,
    requestWasSuccessful: (_req, res) => res.statusCode !== 401,
    handler: tooMany('Too many failed sign-ins for this account; try again later', 'TOO_MANY_LOGIN_FAILURES'),
  }),
});
export type RateLimits = ReturnType<typeof createRateLimits>;
