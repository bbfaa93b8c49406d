import { expect } from 'vitest';
import type { ApiResponse } from '../support/app.js';

/**
 * Rate limits have their own tests; these files make far more /auth calls than the default
 * per-minute budget, so they raise it rather than depend on how fast the machine is.
 */
export const GENEROUS_LIMITS = {
  RATE_LIMIT_PER_MINUTE: '1000000',
  AUTH_RATE_LIMIT_PER_MINUTE: '1000000',
  LOGIN_MAX_FAILURES: '1000',
} as const;

/** An RFC 9457 problem: the right status and media type, the fields a client reads, no internals. */
export const expectProblem = (res: ApiResponse, status: number, code?: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({
    type: expect.any(String),
    title: expect.any(String),
    status,
    detail: expect.any(String),
    code: expect.any(String),
  });
  if (code) expect(res.body.code).toBe(code);
  if (res.body.errors !== undefined)
    for (const error of res.body.errors) expect(error).toMatchObject({ field: expect.any(String), message: expect.any(String) });
  expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(ts|js):\d+|stack|SELECT |INSERT /);
};

/** A 400 whose `errors` name every one of `fields`. */
export const expectInvalidFields = (res: ApiResponse, fields: readonly string[]) => {
  expectProblem(res, 400);
  const named = (res.body.errors as { field: string }[] | undefined)?.map((e) => e.field) ?? [];
  for (const field of fields) expect(named, JSON.stringify(res.body)).toContain(field);
};
