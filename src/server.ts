import { createServer, type Server } from 'node:http';
import { compose, openDatabase, type ServerRole } from './compose.js';
import type { Config } from './config.js';
import type { Logger } from './infra/logger.js';
import { startTracing } from './infra/tracing.js';
import { DEMO_USERS, seedDemoUsers } from './seed.js';

export type RunningServer = Readonly<{ url: string; port: number; stop: () => Promise<void> }>;

const listen = (server: Server, port: number) =>
  new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve((server.address() as { port: number }).port));
  });

/** Starts TaskFlow: database, migrations, projections, HTTP; `stop` undoes it in reverse order. */
export const startServer = async (config: Config, logger: Logger, role: ServerRole = 'all'): Promise<RunningServer> => {
  const stopTracing = await startTracing(config.otelEndpoint);
  const database = await openDatabase(config, logger);
  try {
    const system = await compose(config, database, { logger, role });
    if (database.embedded) await seedDemoUsers(system.users, logger);
    const server = createServer(system.app);
    const port = await listen(server, config.port);
    server.keepAliveTimeout = 65_000;
    const url = `http://localhost:${port}`;
    let stopping: Promise<void> | null = null;
    return {
      url,
      port,
      stop: () =>
        (stopping ??= (async () => {
          await new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeIdleConnections();
          });
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
