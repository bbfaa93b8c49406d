import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, NotFoundError, ServiceUnavailableError, ValidationError } from '../domain/errors.js';
import type { Logger } from '../infra/logger.js';
import { isTransientError } from '../infra/transientErrors.js';

const PROBLEM_TYPE_BASE = 'urn:taskflow:problem:';

const kebab = (code: string) => code.toLowerCase().replace(/_/g, '-');

/** Turns what body-parser and friends throw into our errors; anything else stays as it is. */
const fromExpress = (error: unknown): unknown => {
  const e = error as { type?: string; status?: number; expose?: boolean; message?: string };
  switch (e.type) {
    case 'entity.parse.failed':
      return new ValidationError('The request body is not valid JSON', [], 'INVALID_JSON');
    case 'entity.too.large':
      return new AppError(413, 'PAYLOAD_TOO_LARGE', 'The request body is too large');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', e.message ?? 'Unsupported encoding');
  }
  // A path segment that is not valid percent-encoding (e.g. /tasks/%) fails to decode in the router.
  if (error instanceof URIError) return new ValidationError('The request path is not valid percent-encoding', [], 'MALFORMED_PATH');
  if (e.expose && e.status && e.status >= 400 && e.status < 500) return new AppError(e.status, 'BAD_REQUEST', e.message ?? 'Bad request');
  if (isTransientError(error)) return new ServiceUnavailableError('A service TaskFlow depends on is unavailable; retry shortly', 'DEPENDENCY_UNAVAILABLE');
  return error;
};

export const notFoundRoute: RequestHandler = (req, _res, next) =>
  next(new NotFoundError(`No route for ${req.method} ${req.path}`, 'ROUTE_NOT_FOUND'));

/** The one place where errors become RFC 9457 problem+json. Never a stack trace or SQL. */
export const problemHandler =
  (logger: Logger): ErrorRequestHandler =>
  (raw, req, res, next) => {
    if (res.headersSent) return next(raw);
    const error = fromExpress(raw);
    const known = error instanceof AppError;
    if (!known) logger.error('unhandled error', { error: raw, method: req.method, path: req.path, correlationId: res.locals.correlationId });
    else if (error.status >= 500) logger.warn(error.message, { code: error.code, cause: (raw as Error)?.message, path: req.path, correlationId: res.locals.correlationId });
    const status = known ? error.status : 500;
    const code = known ? error.code : 'INTERNAL_ERROR';
    if (error instanceof ServiceUnavailableError) res.setHeader('Retry-After', String(error.retryAfterSeconds));
    if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
    res
      .status(status)
      .type('application/problem+json')
      .json({
        type: `${PROBLEM_TYPE_BASE}${kebab(code)}`,
        title: STATUS_CODES[status] ?? 'Error',
        status,
        detail: known ? error.message : 'An unexpected error occurred',
        code,
        ...(error instanceof ValidationError && error.errors.length ? { errors: error.errors } : {}),
        instance: req.originalUrl.split('?')[0],
      });
  };
