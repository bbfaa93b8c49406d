import winston from 'winston';

export type Logger = winston.Logger;

const SECRET_KEYS = /pass(word)?|secret|token|authorization|cookie|hash/i;

/** Replaces the value of any field whose name looks secret, at any depth. */
export const redact = (value: unknown, depth = 0): unknown => {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, SECRET_KEYS.test(k) ? '[REDACTED]' : redact(v, depth + 1)]),
  );
};

const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'message') continue;
    info[key] = SECRET_KEYS.test(key) ? '[REDACTED]' : redact(info[key]);
  }
  return info;
});

export const createLogger = (level: string, pretty = process.env.NODE_ENV === 'development'): Logger =>
  winston.createLogger({
    level,
    format: winston.format.combine(
      redactFormat(),
      winston.format.timestamp(),
      pretty ? winston.format.combine(winston.format.colorize(), winston.format.simple()) : winston.format.json(),
    ),
    transports: [new winston.transports.Console({ stderrLevels: ['error'] })],
  });

export const silentLogger = (): Logger => winston.createLogger({ silent: true, transports: [new winston.transports.Console()] });
