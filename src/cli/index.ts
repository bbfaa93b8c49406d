import 'dotenv/config';
import { Command } from 'commander';
import type { ServerRole } from '../compose.js';
import { CliError, fail } from './failure.js';
import { registerOperations } from './operations.js';

// Each command imports what it needs when it runs, so a mistyped argument is answered at once.

// A reader that stops early (`taskflow audit verify | head`) ends the command quietly.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(0);
  });

const program = new Command('taskflow').description('TaskFlow: event-sourced task service');

program
  .command('serve')
  .description('run the service')
  .option('--role <role>', 'what this instance runs: api | projector | worker | scheduler | all', 'all')
  .action(async ({ role }: { role: ServerRole }) => {
    const [{ SERVER_ROLES }, { startServer, printWelcome }, { withConfig }] = await Promise.all([
      import('../compose.js'),
      import('../server.js'),
      import('./system.js'),
    ]);
    if (!SERVER_ROLES.includes(role)) fail(new CliError(`error: option '--role <role>' argument '${role}' is invalid. expected one of ${SERVER_ROLES.join(', ')}`));
    const { config, logger } = withConfig();
    const server = await startServer(config, logger, role).catch(fail);
    // Drain HTTP, stop projections and locks (releasing their leases), stop the embedded database
    // last; past SHUTDOWN_GRACE_MS exit anyway. A second signal is not caught: it ends the process.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.removeAllListeners(signal);
      process.once(signal, () => {
        logger.info('shutting down', { signal, graceMs: config.shutdownGraceMs });
        const force = setTimeout(() => {
          logger.error('shutdown did not finish within the grace period; exiting', { graceMs: config.shutdownGraceMs });
          process.exit(1);
        }, config.shutdownGraceMs);
        force.unref();
        server.stop().then(() => process.exit(0), (error) => fail(error));
      });
    }
    printWelcome(server.url, !config.databaseUrl);
  });

program
  .command('migrate')
  .description('bring the database schema up to date')
  .action(async () => {
    const [{ openDatabase }, { createKnex }, { migrateToLatest }, { withConfig }] = await Promise.all([
      import('../compose.js'),
      import('../infra/db/knex.js'),
      import('../infra/db/migrate.js'),
      import('./system.js'),
    ]);
    const { config, logger } = withConfig();
    const database = await openDatabase(config, logger).catch(fail);
    const knex = createKnex(database.url, { max: 2 });
    try {
      const applied = await migrateToLatest(knex);
      console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'The schema is up to date');
    } catch (error) {
      fail(error);
    } finally {
      await knex.destroy();
      await database.close();
    }
  });

program
  .command('seed')
  .description('register the demo users if they do not exist')
  .action(async () => {
    const [{ compose, openDatabase }, { seedDemoUsers }, { withConfig }] = await Promise.all([import('../compose.js'), import('../seed.js'), import('./system.js')]);
    const { config, logger } = withConfig();
    const database = await openDatabase(config, logger).catch(fail);
    const system = await compose(config, database, { logger, role: 'api', poolSize: 2 }).catch(fail);
    try {
      const created = await seedDemoUsers(system.users, logger);
      console.log(created.length ? `Created: ${created.join(', ')}` : 'The demo users already exist');
    } catch (error) {
      fail(error);
    } finally {
      await system.close();
      await database.close();
    }
  });

registerOperations(program);

await program.parseAsync(process.argv);
