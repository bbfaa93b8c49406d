import 'dotenv/config';
import { Command, InvalidArgumentError } from 'commander';
import { compose, openDatabase, SERVER_ROLES, type ServerRole } from '../compose.js';
import { createKnex } from '../infra/db/knex.js';
import { migrateToLatest } from '../infra/db/migrate.js';
import { seedDemoUsers } from '../seed.js';
import { printWelcome, startServer } from '../server.js';
import { registerOperations } from './operations.js';
import { fail, withConfig } from './system.js';

const program = new Command('taskflow').description('TaskFlow: event-sourced task service');

program
  .command('serve')
  .description('run the service')
  .option('--role <role>', `what this instance runs: ${SERVER_ROLES.join(' | ')}`, (value: string) => {
    if (!SERVER_ROLES.includes(value as ServerRole)) throw new InvalidArgumentError(`expected one of ${SERVER_ROLES.join(', ')}`);
    return value as ServerRole;
  }, 'all')
  .action(async ({ role }: { role: ServerRole }) => {
    const { config, logger } = withConfig();
    const server = await startServer(config, logger, role).catch(fail);
    // Our shutdown stops the embedded database last, after HTTP and projections have drained.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.removeAllListeners(signal);
      process.once(signal, () => {
        logger.info('shutting down', { signal });
        const force = setTimeout(() => process.exit(1), 10_000);
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
