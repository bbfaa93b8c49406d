import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { compose, openDatabase, type ServerRole } from './compose.js';
import type { Config } from './config.js';
import { REQUEST_STATEMENT_TIMEOUT_MS } from './infra/db/knex.js';
import type { Logger } from './infra/logger.js';
import { startTracing } from './infra/tracing.js';
import { DEMO_USERS, seedDemoUsers } from './seed.js';

export type RunningServer = Readonly<{
  url: string;
  port: number;
  /** Drains HTTP (within `graceMs`, then cuts what is left), then stops projections, locks and the database. */
  stop: (graceMs?: number) => Promise<void>;
}>;

/** Time kept, out of the grace period, for stopping projections and locks after HTTP has drained. */
const CLOSE_RESERVE_MS = 2000;
/**
 * How long a draining server still accepts connections (answering each with `Connection: close`,
 * and readiness 503) before it stops listening: connections a balancer or client opened just
 * before the signal, still in the listen backlog, would otherwise be reset.
 */
const ACCEPT_WHILE_DRAINING_MS = 1000;

const listen = (server: Server, port: number) =>
  new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve((server.address() as { port: number }).port));
  });

/**
 * An HTTP server that can drain: once `drain` is called it accepts no connections, answers the
 * requests it has (each with `Connection: close`, so keep-alive connections end after their
 * current response), and resolves when the last connection is gone, or cuts them at `deadline`.
 */
const drainableServer = (handler: RequestListener) => {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  const server = createServer((req, res) => {
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
    if (draining) res.setHeader('Connection', 'close');
    handler(req, res);
  });
  const drain = (deadlineMs: number) =>
    new Promise<void>((resolve) => {
      draining = true;
      for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
      const cut = setTimeout(() => server.closeAllConnections(), deadlineMs);
      // A response that went out before the drain began leaves its connection idle: close those as they appear.
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      server.closeIdleConnections();
      setTimeout(
        () =>
          server.close(() => {
            clearTimeout(cut);
            clearInterval(sweep);
            resolve();
          }),
        Math.min(ACCEPT_WHILE_DRAINING_MS, deadlineMs / 4),
      );
    });
  return { server, drain };
};

/** Starts TaskFlow: database, migrations, projections, HTTP; `stop` undoes it in reverse order. */
export const startServer = async (config: Config, logger: Logger, role: ServerRole = 'all'): Promise<RunningServer> => {
  const stopTracing = await startTracing(config.otelEndpoint);
  const database = await openDatabase(config, logger);
  try {
    const shutdown = new AbortController();
    const system = await compose(config, database, { logger, role, statementTimeoutMs: REQUEST_STATEMENT_TIMEOUT_MS, shutdown: shutdown.signal });
    if (database.embedded) await seedDemoUsers(system.users, logger);
    const { server, drain } = drainableServer(system.app);
    const port = await listen(server, config.port);
    server.keepAliveTimeout = 65_000;
    const url = `http://localhost:${port}`;
    let stopping: Promise<void> | null = null;
    return {
      url,
      port,
      stop: (graceMs = config.shutdownGraceMs) =>
        (stopping ??= (async () => {
          shutdown.abort();
          // Projections keep running meanwhile: a draining read may be waiting for one.
          await drain(Math.max(graceMs - CLOSE_RESERVE_MS, graceMs / 2));
          // Stops projections and the overdue check, releasing their leases for another instance.
          await system.close();
          await database.close();
          await stopTracing();
        })()),
    };
  } catch (error) {
    await database.close().catch(() => undefined);
    await stopTracing().catch(() => undefined);
    throw error;
  }
};

export const printWelcome = (url: string, embedded: boolean) => {
  const lines = [`TaskFlow is running at ${url}`, `  API docs: ${url}/api`, `  health:   ${url}/health`, `  metrics:  ${url}/metrics`];
  if (embedded)
    lines.push('  demo logins:', ...DEMO_USERS.map((u) => `    ${u.email} / ${u.password} (${u.role})`));
  console.log(lines.join('\n'));
};
