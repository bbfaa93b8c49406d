import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { compose, openDatabase, type Database, type System } from '../compose.js';
import { loadConfig, type Config } from '../config.js';
import { findRunningEmbedded } from '../infra/db/embedded.js';
import { createLogger, silentLogger, type Logger } from '../infra/logger.js';
import { CliError, describeFailure, fail } from './failure.js';

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
