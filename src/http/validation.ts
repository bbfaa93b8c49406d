import Joi from 'joi';
import { ValidationError } from '../domain/errors.js';
import { UUID_PATTERN } from '../domain/ids.js';

// PostgreSQL text and jsonb cannot hold NUL, and a lone UTF-16 surrogate is not text at all.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Deeper than any body TaskFlow accepts (a batch is 2 levels), far below what a recursive walk survives. */
export const MAX_JSON_DEPTH = 32;

/** Whether a parsed JSON value nests arrays and objects deeper than `limit`; no recursion, so any depth is safe. */
export const nestedDeeperThan = (value: unknown, limit: number): boolean => {
  const pending: [unknown, number][] = [[value, 0]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [item, depth] = next;
    if (item === null || typeof item !== 'object') continue;
    if (depth + 1 > limit) return true;
    for (const child of Object.values(item)) pending.push([child, depth + 1]);
  }
  return false;
};

/** The paths of strings (values or keys) anywhere in a value that could not be stored; no recursion. */
const unstorable = (value: unknown): string[] => {
  const bad: string[] = [];
  const pending: [unknown, string[]][] = [[value, []]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [item, path] = next;
    if (typeof item === 'string' && UNSTORABLE.test(item)) bad.push(path.join('.'));
    if (item === null || typeof item !== 'object') continue;
    for (const [k, v] of Object.entries(item)) {
      if (UNSTORABLE.test(k)) bad.push([...path, '(key)'].join('.'));
      pending.push([v, [...path, k]]);
    }
  }
  return bad;
};

/** Validates and converts; every problem is reported at once, each naming its field. */
export const validate = <T>(schema: Joi.Schema<T>, value: unknown, what: string): T => {
  const bad = unstorable(value);
  if (bad.length)
    throw new ValidationError(
      `Invalid ${what}`,
      bad.map((field) => ({ field: field || what, message: 'must not contain NUL characters or unpaired surrogates' })),
    );
  const { error, value: converted } = schema.validate(value ?? {}, {
    abortEarly: false,
    convert: true,
    errors: { wrap: { label: false } },
  });
  if (error)
    throw new ValidationError(
      `Invalid ${what}`,
      error.details.map((d) => ({
        field: d.path.join('.') || (d.context?.key as string | undefined) || what,
        message: d.type === 'object.unknown' ? `${d.path.join('.')} is not allowed` : d.message,
      })),
    );
  return converted as T;
};

// Any version, nil and max included (an unknown one is a 404, not a 400); lower-cased, so one task
// has one stream whatever case a client writes its id in.
export const uuid = Joi.string().pattern(UUID_PATTERN).lowercase().messages({ 'string.pattern.base': '{{#label}} must be a UUID' });

/** An ISO 8601 time between the years 1 and 9999, normalised to UTC with milliseconds. */
export const isoDateTime = Joi.string()
  .isoDate()
  .custom((value: string, helpers) => {
    const year = new Date(value).getUTCFullYear();
    return year >= 1 && year <= 9999 ? value : helpers.error('date.range');
  })
  .messages({ 'date.range': '{{#label}} must be between the years 1 and 9999' });

/** For routes that take no query parameters: any given is a 400. */
export const noQuery = Joi.object({});

export const pagination = {
  page: Joi.number().integer().min(1).max(1_000_000).default(1),
  limit: Joi.number().integer().min(1).max(100).default(10),
};

const ID_PARAM = Joi.object({ id: uuid.required() }).unknown(true);

/** The `:id` path parameter as a lower-case UUID; a well-formed one skips joi, which only words the error. */
export const idParam = (value: { id?: unknown }, what = 'id') =>
  typeof value.id === 'string' && UUID_PATTERN.test(value.id) ? value.id.toLowerCase() : (validate(ID_PARAM, value, what).id as string);
