import { ConfigError } from '../config.js';
import { AppError } from '../domain/errors.js';
import { EmbeddedInUseError } from '../infra/db/embedded.js';

// Loaded by every command, so it stays light: the composition root is imported only by the
// commands that open the system.

/** A failure the user can act on, said in one line. */
export class CliError extends Error {}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN']);

/** The one line a failure prints: never a stack trace. */
export const describeFailure = (error: unknown): string => {
  const e = error as NodeJS.ErrnoException & { port?: number; name?: string };
  if (error instanceof ConfigError || error instanceof EmbeddedInUseError || error instanceof CliError || error instanceof AppError) return e.message;
  if (e.code === 'EADDRINUSE') return `Port ${e.port ?? ''} is already in use: set PORT to a free port`.replace('  ', ' ');
  if ((e.code && UNREACHABLE.has(e.code)) || e.name === 'KnexTimeoutError')
    return `Cannot reach the database (${e.message?.split('\n')[0] || e.code}): check DATABASE_URL`;
  return `taskflow: ${(e.message ?? String(error)).split('\n')[0]}`;
};

/** Prints one clear line for the failures a user can act on, never a stack trace, and exits. */
export const fail = (error: unknown, code = 1): never => {
  console.error(describeFailure(error));
  process.exit(code);
};
