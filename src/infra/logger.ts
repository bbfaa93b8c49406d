import { writeSync } from 'node:fs';
import { Writable } from 'node:stream';
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

const FLUSH_MS = 20;
const FLUSH_BYTES = 64 * 1024;
/** stdout to a pipe is asynchronous: a reader that stalls would otherwise leave every line in memory. */
const MAX_UNWRITTEN_BYTES = 8 * 1024 * 1024;

/**
 * stdout with lines gathered for a few milliseconds and written together: one write per line
 * (a system call each) cost more than everything else a cached read does. Whatever is still
 * buffered is written synchronously when the process exits. While stdout holds more than
 * MAX_UNWRITTEN_BYTES it has not written yet, lines are dropped and counted.
 */
const bufferedStdout = () => {
  let chunks: Buffer[] = [];
  let size = 0;
  let dropped = 0;
  let timer: NodeJS.Timeout | null = null;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (!size) return;
    const lines = chunks.length;
    const data = Buffer.concat(chunks, size);
    chunks = [];
    size = 0;
    if (process.stdout.writableLength > MAX_UNWRITTEN_BYTES) {
      dropped += lines;
      return;
    }
    if (dropped) {
      const notice = { level: 'warn', message: 'log lines dropped: stdout did not keep up', dropped, timestamp: new Date().toISOString() };
      process.stdout.write(`${JSON.stringify(notice)}\n`);
      dropped = 0;
    }
    process.stdout.write(data);
  };
  process.once('exit', () => {
    if (size) writeSync(1, Buffer.concat(chunks, size));
  });
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= FLUSH_BYTES) flush();
      else timer ??= setTimeout(flush, FLUSH_MS);
      done();
    },
  });
};

export const createLogger = (level: string, pretty = process.env.NODE_ENV === 'development'): Logger =>
  winston.createLogger({
    level,
    format: winston.format.combine(
      redactFormat(),
      winston.format.timestamp(),
      pretty ? winston.format.combine(winston.format.colorize(), winston.format.simple()) : winston.format.json(),
    ),
    // Errors go straight to stderr; the rest through the buffer on stdout.
    transports: pretty
      ? [new winston.transports.Console({ stderrLevels: ['error'] })]
      : [
          new winston.transports.Stream({ stream: bufferedStdout(), level, format: winston.format((info) => (info.level === 'error' ? false : info))() }),
          new winston.transports.Console({ level: 'error', stderrLevels: ['error'] }),
        ],
  });

export const silentLogger = (): Logger => winston.createLogger({ silent: true, transports: [new winston.transports.Console()] });
