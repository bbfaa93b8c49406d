// The services the fault suite breaks: a PostgreSQL cluster and a redis-server of its own.
import { hasRedisServer, startRedisServer, type TestRedis } from '../../support/redis.js';

export { startPrivatePostgres, type PrivatePostgres } from '../../support/privatePostgres.js';

export const NO_REDIS_SERVER = 'skipped: no redis-server on PATH (the fault suite never uses a shared Redis)';
export const canStartRedis = hasRedisServer;

export type PrivateRedis = Readonly<{ url: string; port: number; stop: () => Promise<void>; start: () => Promise<void>; destroy: () => Promise<void> }>;

/** A redis-server of the suite's own that can be stopped and started again on the same port. */
export const startPrivateRedis = async (): Promise<PrivateRedis> => {
  let server: (TestRedis & { port: number }) | null = await startRedisServer();
  const { port, url } = server;
  return {
    url,
    port,
    stop: async () => {
      await server?.stop();
      server = null;
    },
    start: async () => {
      server ??= await startRedisServer(port);
    },
    destroy: async () => {
      await server?.stop();
      server = null;
    },
  };
};
