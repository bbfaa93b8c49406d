import path from 'node:path';
import Joi from 'joi';

export type Config = Readonly<{
  port: number;
  databaseUrl: string | null;
  eventStoreUrl: string | null;
  redisUrl: string | null;
  jwtSecret: string | null;
  logLevel: string;
  otelEndpoint: string | null;
  overdueCheckCron: string;
  rateLimitPerMinute: number;
  authRateLimitPerMinute: number;
  loginMaxFailures: number;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  readYourWritesTimeoutMs: number;
  dataDir: string;
  notifyWebhookUrl: string | null;
  lockLeaseMs: number;
  instanceId: string | null;
  /** How long SIGTERM/SIGINT may take: drain HTTP, stop projections and locks; past it the process exits anyway. */
  shutdownGraceMs: number;
  /** false only to measure what request logs, metrics and tracing cost (bench/). */
  requestObservability: boolean;
}>;

export class ConfigError extends Error {}

const url = (schemes: string[]) => Joi.string().uri({ scheme: schemes });

const schema = Joi.object({
  PORT: Joi.number().integer().min(0).max(65535).default(3000),
  DATABASE_URL: url(['postgres', 'postgresql']),
  EVENTSTORE_URL: url(['esdb', 'esdb+discover']),
  REDIS_URL: url(['redis', 'rediss']),
  JWT_SECRET: Joi.string().min(32).when('DATABASE_URL', {
    is: Joi.exist(),
    then: Joi.required().messages({ 'any.required': 'JWT_SECRET is required when DATABASE_URL is set' }),
  }),
  LOG_LEVEL: Joi.string().valid('error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly').default('info'),
  OTEL_EXPORTER_OTLP_ENDPOINT: Joi.string().uri({ scheme: ['http', 'https'] }),
  OVERDUE_CHECK_CRON: Joi.string().pattern(/^(\S+\s+){4,5}\S+$/, 'cron expression').default('* * * * *'),
  RATE_LIMIT_PER_MINUTE: Joi.number().integer().min(1).default(600),
  AUTH_RATE_LIMIT_PER_MINUTE: Joi.number().integer().min(1).default(20),
  LOGIN_MAX_FAILURES: Joi.number().integer().min(1).default(5),
  ACCESS_TOKEN_TTL_SECONDS: Joi.number().integer().min(10).max(86_400).default(900),
  REFRESH_TOKEN_TTL_SECONDS: Joi.number().integer().min(60).default(30 * 86_400),
  READ_YOUR_WRITES_TIMEOUT_MS: Joi.number().integer().min(0).max(60_000).default(5000),
  TASKFLOW_DATA_DIR: Joi.string().default('.data'),
  NOTIFY_WEBHOOK_URL: Joi.string().uri({ scheme: ['http', 'https'] }),
  LOCK_LEASE_MS: Joi.number().integer().min(1000).max(600_000).default(10_000),
  INSTANCE_ID: Joi.string().pattern(/^[A-Za-z0-9._:-]{1,100}$/),
  SHUTDOWN_GRACE_MS: Joi.number().integer().min(1000).max(600_000).default(10_000),
  REQUEST_OBSERVABILITY: Joi.string().valid('on', 'off').default('on'),
})
  .unknown(true);

/** Reads the environment; a missing or malformed value is one clear line naming it. */
export const loadConfig = (env: NodeJS.ProcessEnv = process.env): Config => {
  // An empty variable (`DATABASE_URL=`) means unset, as in most tools.
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const { error, value } = schema.validate(given, { abortEarly: true, errors: { wrap: { label: false } } });
  if (error) {
    const detail = error.details[0]!;
    const key = String(detail.path[0] ?? '');
    const message = detail.message.startsWith(key) ? detail.message : `${key}: ${detail.message}`;
    throw new ConfigError(`Configuration error: ${message} (got ${JSON.stringify(env[key] ?? null)})`);
  }
  return {
    port: value.PORT,
    databaseUrl: value.DATABASE_URL ?? null,
    eventStoreUrl: value.EVENTSTORE_URL ?? null,
    redisUrl: value.REDIS_URL ?? null,
    jwtSecret: value.JWT_SECRET ?? null,
    logLevel: value.LOG_LEVEL,
    otelEndpoint: value.OTEL_EXPORTER_OTLP_ENDPOINT ?? null,
    overdueCheckCron: value.OVERDUE_CHECK_CRON,
    rateLimitPerMinute: value.RATE_LIMIT_PER_MINUTE,
    authRateLimitPerMinute: value.AUTH_RATE_LIMIT_PER_MINUTE,
    loginMaxFailures: value.LOGIN_MAX_FAILURES,
    accessTokenTtlSeconds: value.ACCESS_TOKEN_TTL_SECONDS,
    refreshTokenTtlSeconds: value.REFRESH_TOKEN_TTL_SECONDS,
    readYourWritesTimeoutMs: value.READ_YOUR_WRITES_TIMEOUT_MS,
    dataDir: path.resolve(value.TASKFLOW_DATA_DIR),
    notifyWebhookUrl: value.NOTIFY_WEBHOOK_URL ?? null,
    lockLeaseMs: value.LOCK_LEASE_MS,
    instanceId: value.INSTANCE_ID ?? null,
    shutdownGraceMs: value.SHUTDOWN_GRACE_MS,
    requestObservability: value.REQUEST_OBSERVABILITY === 'on',
  };
};
