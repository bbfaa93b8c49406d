import Joi from 'joi';
import { ValidationError } from '../domain/errors.js';

/** Validates and converts; every problem is reported at once, each naming its field. */
export const validate = <T>(schema: Joi.Schema<T>, value: unknown, what: string): T => {
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

export const uuid = Joi.string().guid({ version: ['uuidv1', 'uuidv2', 'uuidv3', 'uuidv4', 'uuidv5', 'uuidv7', 'uuidv8'] });

export const pagination = {
  page: Joi.number().integer().min(1).max(1_000_000).default(1),
  limit: Joi.number().integer().min(1).max(100).default(10),
};

export const idParam = (value: unknown, what = 'id') => validate(Joi.object({ id: uuid.required() }).unknown(true), value, what).id as string;
