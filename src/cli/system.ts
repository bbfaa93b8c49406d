import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { compose, openDatabase, type Database, type System } from '../compose.js';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { AppError } from '../domain/errors.js';
import { EmbeddedInUseError, findRunningEmbedded } from '../infra/db/embedded.js';
import { createLogger, silentLogger, type Logger } from '../infra/logger.js';

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

export const withConfig = (): { config: Config; logger: Logger } => {
  try {
    const config = loadConfig();
    return { config, logger: createLogger(config.logLevel) };
  } catch (error) {
    return fail(error);
  }
};

/**
 * The database of an operator command: DATABASE_URL when set; otherwise the embedded PostgreSQL
 * of the data folder, either the one a running `npm start` serves (found through its runtime
 * file; the server keeps serving) or, when that server is stopped, started for the command.
 */
const openCommandDatabase = async (config: Config, logger: Logger): Promise<Database> => {
  // The CLI signs no tokens; compose only insists that a secret exists.
  const jwtSecret = config.jwtSecret ?? randomBytes(32).toString('base64url');
  if (config.databaseUrl) return openDatabase(config, logger);
  const running = findRunningEmbedded(config.dataDir);
  if (running) return { url: running.url, embedded: true, jwtSecret, close: async () => {} };
  if (!existsSync(path.join(config.dataDir, 'pg', 'PG_VERSION')))
    throw new CliError(`No TaskFlow database in ${config.dataDir}: start TaskFlow there once (npm start), or set DATABASE_URL`);
  return openDatabase(config, logger);
};

export type CommandSystem = Readonly<{ system: System; close: () => Promise<void> }>;

/**
 * Everything an operator command needs (knex, event store, lock, cache), composed as an API
 * instance that runs no projections. Logs stay quiet unless LOG_LEVEL is set, so output is
 * only the command's own.
 */
export const openSystem = async (): Promise<CommandSystem> => {
  const { config } = withConfig();
  const logger = process.env.LOG_LEVEL ? createLogger(config.logLevel) : silentLogger();
  const database = await openCommandDatabase(config, logger);
  try {
    const system = await compose(config, database, { logger, role: 'api', poolSize: 4 });
    return {
      system,
      close: async () => {
        await system.close();
        await database.close();
      },
    };
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }
};

/** Opens the system, runs the command, closes everything, and exits with the command's code. */
export const runCommand = async (command: (system: System) => Promise<number | void>): Promise<never> => {
  let opened: CommandSystem | null = null;
  let code = 1;
  try {
    opened = await openSystem();
    code = (await command(opened.system)) ?? 0;
  } catch (error) {
    console.error(describeFailure(error));
  }
  await opened?.close().catch(() => undefined);
  process.exit(code);
};
