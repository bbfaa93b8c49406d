import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { taskCommands } from './commands/tasks.js';
import { userCommands } from './commands/users.js';
import { ConfigError, type Config } from './config.js';
import { createApp } from './http/app.js';
import { createAuthenticate } from './http/authenticate.js';
import { idempotency, sweepIdempotencyKeys } from './http/idempotency.js';
import { createRateLimits } from './http/rateLimits.js';
import { authRoutes } from './http/routes/auth.js';
import { docsRoutes } from './http/routes/docs.js';
import { healthRoutes } from './http/routes/health.js';
import { notificationRoutes } from './http/routes/notifications.js';
import { taskRoutes } from './http/routes/tasks.js';
import { userRoutes } from './http/routes/users.js';
import { createTokenService } from './http/tokens.js';
import { createKnex, createPgPool } from './infra/db/knex.js';
import { migrateToLatest } from './infra/db/migrate.js';
import { createPostgresEventStore } from './infra/eventstore/postgres.js';
import type { Logger } from './infra/logger.js';
import { ALL_PROJECTIONS } from './projections/index.js';
import { createProjectionWatermarks, runProjection, type ProjectionRunner } from './projections/runtime.js';
import { createReadYourWrites } from './queries/readYourWrites.js';

export const SERVER_ROLES = ['api', 'projector', 'all'] as const;
export type ServerRole = (typeof SERVER_ROLES)[number];

export type Database = Readonly<{ url: string; embedded: boolean; jwtSecret: string | null; close: () => Promise<void> }>;

/** DATABASE_URL when given, otherwise the embedded PostgreSQL kept in the data folder. */
export const openDatabase = async (config: Config, logger: Logger): Promise<Database> => {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: false, jwtSecret: config.jwtSecret, close: async () => {} };
  const { startEmbeddedPostgres } = await import('./infra/db/embedded.js');
  const db = await startEmbeddedPostgres(config.dataDir, { onLog: (message) => logger.debug('postgres', { message: message.trim() }) });
  return { url: db.url, embedded: true, jwtSecret: config.jwtSecret ?? (await embeddedJwtSecret(config.dataDir)), close: db.stop };
};

/** The embedded default keeps a generated secret in the data folder, so tokens survive restarts. */
const embeddedJwtSecret = async (dataDir: string) => {
  const file = path.join(dataDir, 'jwt-secret');
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  await mkdir(dataDir, { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  await writeFile(file, secret, { mode: 0o600 });
  return secret;
};

/** The composition root: every adapter is built here from configuration and handed down. */
export const compose = async (
  config: Config,
  database: Database,
  options: { logger: Logger; role?: ServerRole; now?: () => Date; poolSize?: number },
) => {
  const { logger, role = 'all', now = () => new Date() } = options;
  if (config.eventStoreUrl) throw new ConfigError('Configuration error: EVENTSTORE_URL is not supported by this build yet');
  if (!database.jwtSecret) throw new ConfigError('Configuration error: JWT_SECRET is required');

  const poolSize = options.poolSize ?? 10;
  const knex = createKnex(database.url, { max: poolSize });
  await migrateToLatest(knex);
  const pool = createPgPool(database.url, poolSize);
  const eventStore = createPostgresEventStore(pool, database.url);
  const watermarks = createProjectionWatermarks(knex);
  const readYourWrites = createReadYourWrites(watermarks, config.readYourWritesTimeoutMs);
  const tasks = taskCommands({ eventStore });
  const users = userCommands({ eventStore });
  const tokens = createTokenService({
    knex,
    secret: database.jwtSecret,
    accessTtlSeconds: config.accessTokenTtlSeconds,
    refreshTtlSeconds: config.refreshTokenTtlSeconds,
    now,
  });

  const limits = createRateLimits({
    perMinute: config.rateLimitPerMinute,
    authPerMinute: config.authRateLimitPerMinute,
    loginMaxFailures: config.loginMaxFailures,
  });

  const runners: ProjectionRunner[] =
    role === 'api' ? [] : ALL_PROJECTIONS.map((projection) => runProjection({ knex, eventStore, watermarks, logger }, projection));

  const app = createApp({
    logger,
    publicRoutes: [docsRoutes(), healthRoutes({ knex, eventStore, runners: () => runners }), authRoutes({ eventStore, users, tokens, readYourWrites, now, limits })],
    authenticate: createAuthenticate(database.jwtSecret),
    protectedMiddleware: [limits.api, idempotency(knex, now)],
    protectedRoutes: [
      taskRoutes({ knex, eventStore, tasks, readYourWrites, now }),
      userRoutes({ knex, eventStore, users, readYourWrites, now }),
      notificationRoutes({ knex, readYourWrites }),
    ],
  });

  const sweeper = role === 'projector' ? null : setInterval(() => void sweepIdempotencyKeys(knex, now).catch(() => undefined), 3600_000);
  sweeper?.unref();

  return {
    app,
    knex,
    eventStore,
    tasks,
    users,
    runners,
    async close() {
      if (sweeper) clearInterval(sweeper);
      await Promise.all(runners.map((r) => r.stop()));
      await eventStore.close();
      await pool.end();
      await knex.destroy();
    },
  };
};
export type System = Awaited<ReturnType<typeof compose>>;
