import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Cron } from 'croner';
import { Redis } from 'ioredis';
import { RedisStore } from 'rate-limit-redis';
import { runOverdueCheck } from './commands/overdueCheck.js';
import { taskCommands } from './commands/tasks.js';
import { userCommands } from './commands/users.js';
import { ConfigError, type Config } from './config.js';
import { createApp } from './http/app.js';
import { createAuthenticate } from './http/authenticate.js';
import { idempotency, sweepIdempotencyKeys } from './http/idempotency.js';
import { createRateLimits } from './http/rateLimits.js';
import { adminRoutes } from './http/routes/admin.js';
import { authRoutes } from './http/routes/auth.js';
import { docsRoutes } from './http/routes/docs.js';
import { healthRoutes } from './http/routes/health.js';
import { notificationRoutes } from './http/routes/notifications.js';
import { taskRoutes } from './http/routes/tasks.js';
import { userRoutes } from './http/routes/users.js';
import { createTokenService } from './http/tokens.js';
import type { Cache } from './infra/cache/cache.js';
import type { Knex } from 'knex';
import type { EventStore } from './infra/eventstore/eventStore.js';
import { instrumentEventStore } from './infra/eventstore/instrumented.js';
import { shareLogReads } from './infra/eventstore/sharedReads.js';
import { createMetrics, type Metrics } from './infra/metrics.js';
import { metricsRoutes, observeRequests } from './http/observability.js';
import { liveProjection, READ_MODELS } from './operations/projections.js';
import { countLogInPostgres, countLogThrough, startCompletenessChecks } from './operations/completeness.js';
import { oldestAppendInFlight, projectionStatus } from './operations/status.js';
import { createMemoryCache } from './infra/cache/memory.js';
import { CACHE_CHANNEL, cacheChangePayload, createPgInvalidationBus, FORGET_ALL_PAYLOAD } from './infra/cache/pgBus.js';
import { createInstanceRegistry } from './infra/instances.js';
import { createPostgresWritePositions } from './infra/positions/postgres.js';
import { createRedisWritePositions } from './infra/positions/redis.js';
import { consistency, createConsistencyTokens } from './http/consistency.js';
import { createRedisCache } from './infra/cache/redis.js';
import { createKnex, createPgPool } from './infra/db/knex.js';
import { migrateToLatest } from './infra/db/migrate.js';
import { createPostgresEventStore } from './infra/eventstore/postgres.js';
import { runExclusive, type ExclusiveRunner } from './infra/lock/exclusive.js';
import type { LeaderLock } from './infra/lock/lock.js';
import { createPostgresLock } from './infra/lock/postgres.js';
import { createRedisLock } from './infra/lock/redis.js';
import type { Logger } from './infra/logger.js';
import { createJobQueue, type JobQueue } from './infra/queue/jobQueue.js';
import { deliverOverdueNotification, overdueNotificationJobs, type OverdueNotificationJob } from './notifications/overdueNotifications.js';
import { createProjectionWatermarks, runProjection, type CacheChanges, type ProjectionRunner } from './projections/runtime.js';
import { createReadYourWrites } from './queries/readYourWrites.js';
import { createRoleLookup } from './queries/credentials.js';

export const SERVER_ROLES = ['api', 'projector', 'worker', 'scheduler', 'all'] as const;
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

const connectRedis = async (url: string, logger: Logger) => {
  // Fail fast rather than queue: a Redis outage must degrade to PostgreSQL, not hang requests.
  // Commands issued in the same moment share one round trip (a cached read and the caller's write position).
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    commandTimeout: 500,
    connectTimeout: 2000,
    lazyConnect: true,
  });
  let down = false;
  redis.on('error', (error) => {
    if (!down) logger.warn('redis unavailable', { error: error.message });
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info('redis available again');
    down = false;
  });
  // Start with a connection when Redis is there; without one, start degraded and keep retrying.
  await redis.connect().catch((error: Error) => logger.warn('starting without redis', { error: error.message }));
  return redis;
};

/** Migrations may run long: under a statement timeout, they get connections of their own without it. */
const migrate = async (url: string, knex: Knex, statementTimeoutMs: number | undefined) => {
  if (!statementTimeoutMs) return migrateToLatest(knex);
  const own = createKnex(url, { max: 2 });
  try {
    return await migrateToLatest(own);
  } finally {
    await own.destroy();
  }
};

const hasRole = (role: ServerRole, wanted: ServerRole) => role === 'all' || role === wanted;

/** Counts hits and misses around any cache adapter. */
const instrumentCache = (cache: Cache, metrics: Metrics): Cache => ({
  ...cache,
  read: async (key, scopes) => {
    const result = await cache.read(key, scopes);
    (result.hit ? metrics.cacheHits : metrics.cacheMisses).inc();
    return result;
  },
});

/** Gauges read at scrape time: projection lag, queue depth, lock ownership. */
const registerCollectors = (
  metrics: Metrics,
  deps: { knex: Knex; eventStore: EventStore; queue: Pick<JobQueue<unknown>, 'counts'>; locks: () => readonly ExclusiveRunner[] },
) => {
  // Both lag gauges share one read of the projection status per scrape.
  let statuses: ReturnType<typeof projectionStatus> | null = null;
  const readStatuses = () => {
    statuses ??= projectionStatus(deps).finally(() => setTimeout(() => (statuses = null), 500).unref());
    return statuses;
  };
  metrics.gauge('taskflow_projection_lag_events', 'Events in the log not yet applied, per projection', ['projection'], async (g) => {
    for (const s of await readStatuses()) g.set({ projection: s.name }, s.lagEvents);
  });
  metrics.gauge('taskflow_projection_lag_seconds', 'Age of the oldest unapplied event (0 when caught up), per projection', ['projection'], async (g) => {
    for (const s of await readStatuses()) g.set({ projection: s.name }, s.lagSeconds);
  });
  metrics.gauge('taskflow_projection_failed', 'Whether a projection stopped on an event it cannot apply (1) or not (0)', ['projection'], async (g) => {
    for (const s of await readStatuses()) g.set({ projection: s.name }, s.failure ? 1 : 0);
  });
  metrics.gauge('taskflow_projection_parked_events', 'Events an operator parked (the projection skips them), per projection', ['projection'], async (g) => {
    for (const s of await readStatuses()) g.set({ projection: s.name }, s.parked.length);
  });
  metrics.gauge('taskflow_projection_missing_events', 'Events of the log below the checkpoint that the projection did not consume (last check)', ['projection'], async (g) => {
    for (const s of await readStatuses()) g.set({ projection: s.name }, s.completeness?.missing ?? 0);
  });
  metrics.gauge('taskflow_projection_doubled_events', 'Events the projection consumed more often than the log holds them (last check)', ['projection'], async (g) => {
    for (const s of await readStatuses()) g.set({ projection: s.name }, s.completeness?.doubled ?? 0);
  });
  metrics.gauge('taskflow_event_log_oldest_append_seconds', 'Age of the oldest append still in flight (0 when none): every projection waits for it', [], async (g) => {
    g.set((await oldestAppendInFlight(deps.eventStore).catch(() => null))?.ageSeconds ?? 0);
  });
  metrics.gauge('taskflow_queue_jobs', 'Jobs in the notification queue, by state', ['state'], async (g) => {
    for (const [state, count] of Object.entries(await deps.queue.counts().catch(() => ({})))) g.set({ state }, count);
  });
  metrics.gauge('taskflow_lock_held', 'Whether this instance holds each leader lock (1) or not (0)', ['lock'], (g) => {
    for (const runner of deps.locks()) g.set({ lock: runner.name }, runner.status().held ? 1 : 0);
  });
};

/** The composition root: every adapter is built here from configuration and handed down. */
export const compose = async (
  config: Config,
  database: Database,
  options: {
    logger: Logger;
    role?: ServerRole;
    now?: () => Date;
    poolSize?: number;
    /** A server's statement timeout (REQUEST_STATEMENT_TIMEOUT_MS); none for operator commands, whose statements may run long. */
    statementTimeoutMs?: number;
    /** Aborted when the server starts draining: /health/ready answers 503 from then on. */
    shutdown?: AbortSignal;
  },
) => {
  const { logger, role = 'all', now = () => new Date(), statementTimeoutMs } = options;
  if (!database.jwtSecret) throw new ConfigError('Configuration error: JWT_SECRET is required');
  const instanceId = config.instanceId ?? `${os.hostname()}:${process.pid}`;

  const poolSize = options.poolSize ?? 10;
  const knex = createKnex(database.url, { max: poolSize, statementTimeoutMs });
  await migrate(database.url, knex, statementTimeoutMs);
  const pool = createPgPool(database.url, poolSize, { statementTimeoutMs });
  // The log lives in EventStoreDB when EVENTSTORE_URL is set; read models and checkpoints stay in PostgreSQL.
  const metrics = createMetrics();
  const eventStore = instrumentEventStore(
    // Loaded only when used: its gRPC client costs ~8 MB of memory.
    config.eventStoreUrl
      ? (await import('./infra/eventstore/eventstoredb.js')).createEventStoreDbEventStore(config.eventStoreUrl)
      : createPostgresEventStore(pool, database.url),
    metrics.appendDuration,
  );
  const redis = config.redisUrl ? await connectRedis(config.redisUrl, logger) : null;
  const bus = redis ? null : createPgInvalidationBus(pool, database.url);
  const cache = instrumentCache(redis ? createRedisCache(redis) : createMemoryCache({ bus: bus! }), metrics);
  // Projections and rebuilds are owned through PostgreSQL, whatever else is configured: Redis must
  // never be the reason a read model stops. The overdue check takes redlock when Redis is there.
  const lock: LeaderLock = createPostgresLock(knex, database.url, { leaseMs: config.lockLeaseMs, instanceId });
  const scheduleLock: LeaderLock = redis ? createRedisLock(knex, redis, { leaseMs: config.lockLeaseMs, instanceId }) : lock;
  const queue = createJobQueue<OverdueNotificationJob>('notifications', { redisUrl: config.redisUrl, databaseUrl: database.url });

  // What this instance learns of the tasks projection's position tells the cache what fresh loads reflect.
  const watermarks = createProjectionWatermarks(knex, { onKnown: (name, at) => name === 'tasks' && cache.observed(at) });
  const durablePositions = createPostgresWritePositions(knex);
  // Registered under a name of its own, even where two instances were given the same INSTANCE_ID.
  const instances = hasRole(role, 'api') ? createInstanceRegistry(knex, `${instanceId}#${randomUUID().slice(0, 8)}`, { onAlone: () => readYourWrites.adopt() }) : null;
  const readYourWrites = createReadYourWrites({
    watermarks,
    positions: redis ? createRedisWritePositions(redis, durablePositions) : durablePositions,
    instances: instances ?? { alone: () => false, writable: async () => undefined },
    timeoutMs: config.readYourWritesTimeoutMs,
    logger,
  });
  const ownReads = consistency(readYourWrites, createConsistencyTokens(database.jwtSecret));
  const observe = (type: string, outcome: string) => metrics.commands.inc({ type, outcome });
  const tasks = taskCommands({ eventStore, observe });
  // An instance alone in its cluster keeps the roster it read until it changes a role itself.
  const roles = createRoleLookup(eventStore, instances ?? undefined);
  const users = userCommands({ eventStore, observe, onRolesChanged: roles.forget });
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
    ...(redis
      ? { store: (prefix: string) => new RedisStore({ prefix: `taskflow:rl:${prefix}`, sendCommand: (...args: string[]) => redis.call(args[0]!, ...args.slice(1)) as never }) }
      : {}),
  });

  // In-process caches of other instances hear of a batch's changes from a NOTIFY its commit sends.
  const cacheChanges: CacheChanges = {
    before: (scopes, to) => cache.invalidate(scopes, to),
    ...(bus ? { notice: (scopes, to) => ({ channel: CACHE_CHANNEL, payload: cacheChangePayload(scopes, to) }) } : {}),
    after: (scopes, to) => cache.committed(scopes, to),
  };

  // Each projection and the overdue check run in one instance at a time, under a lock each.
  const exclusive: ExclusiveRunner[] = [];
  const projectionRunners = new Map<string, ProjectionRunner>();
  const projectorKnex = hasRole(role, 'projector') ? createKnex(database.url, { max: 4, name: 'taskflow-projector', asyncCommit: true }) : null;
  // The runners of this process usually read the same batch of the log: they share it.
  const projectorLog = shareLogReads(eventStore);
  if (projectorKnex)
    // One list of read models, shared with the operator tooling (status, rebuild, verify).
    for (const projection of [...READ_MODELS.map(liveProjection), overdueNotificationJobs(queue)])
      exclusive.push(
        runExclusive(
          lock,
          `projection:${projection.name}`,
          (lease) => {
            const runner = runProjection(
              {
                knex: projectorKnex,
                eventStore: projectorLog,
                watermarks,
                logger,
                cacheChanges,
                onBatch: (name, events) => metrics.projectedEvents.inc({ projection: name }, events),
              },
              projection,
              lease.lost,
            );
            projectionRunners.set(projection.name, runner);
            return runner;
          },
          { logger },
        ),
      );
  // Compares each projection's counts with the log now and then (the CLI does it on demand).
  const completeness = { knex, countLog: config.eventStoreUrl ? countLogThrough(eventStore) : countLogInPostgres };
  const completenessChecks = projectorKnex ? startCompletenessChecks(completeness, { logger }) : null;
  if (hasRole(role, 'scheduler'))
    exclusive.push(
      runExclusive(
        scheduleLock,
        'overdue-check',
        (lease) => {
          const job = new Cron(config.overdueCheckCron, { protect: true, catch: (error) => logger.error('overdue check failed', { error }) }, () =>
            runOverdueCheck({ knex, tasks, now, logger }, lease).then(() => undefined),
          );
          return { stop: async () => job.stop() };
        },
        { logger },
      ),
    );
  const worker = hasRole(role, 'worker')
    ? queue.startWorker(deliverOverdueNotification({ knex, webhookUrl: config.notifyWebhookUrl, logger }))
    : null;

  registerCollectors(metrics, { knex, eventStore, queue, locks: () => exclusive });

  const app = createApp({
    logger,
    ...(options.shutdown ? { shutdown: options.shutdown } : {}),
    ...(config.requestObservability ? { observe: observeRequests(metrics) } : {}),
    requestLogs: config.requestObservability,
    publicRoutes: [
      docsRoutes(),
      metricsRoutes(metrics),
      healthRoutes({ knex, eventStore, redis, projections: () => [...projectionRunners.values()], locks: () => exclusive, queue }),
      authRoutes({ eventStore, users, tokens, consistency: ownReads, now, limits }),
    ],
    authenticate: createAuthenticate(database.jwtSecret, roles),
    beforeAuthentication: [limits.anonymous],
    protectedMiddleware: [limits.api, idempotency(knex, now)],
    protectedRoutes: [
      taskRoutes({ knex, cache, eventStore, tasks, consistency: ownReads, now }),
      userRoutes({ knex, eventStore, users, consistency: ownReads, now }),
      notificationRoutes({ knex }),
      adminRoutes({ knex, eventStore }),
    ],
  });

  const sweeper = hasRole(role, 'api') ? setInterval(() => void sweepIdempotencyKeys(knex, now).catch(() => undefined), 3600_000) : null;
  sweeper?.unref();

  return {
    app,
    knex,
    eventStore,
    tasks,
    users,
    cache,
    swapNotice: bus ? { channel: CACHE_CHANNEL, payload: FORGET_ALL_PAYLOAD } : null,
    lock,
    queue,
    watermarks,
    metrics,
    instanceId,
    locks: exclusive,
    projections: projectionRunners,
    completeness,
    async close() {
      if (sweeper) clearInterval(sweeper);
      // Leases first, so another instance takes over at once (closing the queue waits for Redis).
      await Promise.all(exclusive.map((r) => r.stop()));
      await instances?.stop();
      await lock.close();
      if (scheduleLock !== lock) await scheduleLock.close();
      await completenessChecks?.stop();
      await worker?.close();
      await queue.close();
      await bus?.close();
      await cache.close();
      redis?.disconnect();
      await eventStore.close();
      await pool.end();
      await projectorKnex?.destroy();
      await knex.destroy();
    },
  };
};
export type System = Awaited<ReturnType<typeof compose>>;
