import Joi from 'joi';
import { ValidationError } from '../domain/errors.js';

// PostgreSQL text and jsonb cannot hold NUL, and a lone UTF-16 surrogate is not text at all.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The paths of strings anywhere in a value that could not be stored. */
const unstorable = (value: unknown, path: string[] = []): string[] => {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? [path.join('.')] : [];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => [...(UNSTORABLE.test(k) ? [[...path, '(key)'].join('.')] : []), ...unstorable(v, [...path, k])]);
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

// Lower-cased, so one task has one stream whatever case a client writes its id in.
export const uuid = Joi.string()
  .guid({ version: ['uuidv1', 'uuidv2', 'uuidv3', 'uuidv4', 'uuidv5', 'uuidv7', 'uuidv8'] })
  .lowercase();

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
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The `:id` path parameter as a lower-case UUID; the common canonical form skips joi. */
export const idParam = (value: { id?: unknown }, what = 'id') =>
  typeof value.id === 'string' && CANONICAL_UUID.test(value.id) ? value.id : (validate(ID_PARAM, value, what).id as string);
