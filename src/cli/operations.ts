import os from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { rebuildProjection, DEFAULT_REBUILD_BATCH, type RebuildResult } from '../operations/rebuild.js';
import { checkCompleteness } from '../operations/completeness.js';
import { PROJECTION_NAMES, projectionNamed, READ_MODELS, readModelNamed } from '../operations/projections.js';
import { parkEvent, retryProjection } from '../operations/repair.js';
import { replayTask, taskAuditTrail } from '../operations/audit.js';
import { projectionStatus } from '../operations/status.js';
import { verifiedClean, verifyReadModels } from '../operations/verify.js';
import { formatHistory, formatStatus, formatTask, formatVerify, orderedTask } from './format.js';
import { progressReporter } from './progress.js';
import type { System } from '../compose.js';
import { CliError, fail } from './failure.js';
import { UUID_PATTERN } from '../domain/ids.js';

/** Opens the system (the heavy imports) only once the arguments are known to be good. */
const runCommand = async (command: (system: System) => Promise<number | void>) => (await import('./system.js')).runCommand(command);


const uuidArgument = (what: string) => (value: string) => {
  if (!UUID_PATTERN.test(value)) throw new InvalidArgumentError(`expected ${what} (a UUID)`);
  return value.toLowerCase();
};
const taskIdArgument = uuidArgument('a task id');
const projectionArgument = (value: string) => {
  try {
    return projectionNamed(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};

/** Who an operation is recorded as: TASKFLOW_OPERATOR, else the OS user at this host. */
const operatorName = () => {
  const given = process.env.TASKFLOW_OPERATOR?.trim();
  if (given) return given;
  let user = process.env.USER ?? 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // no entry for this uid (some containers): keep $USER
  }
  return `${user}@${os.hostname()}`;
};
const positiveInteger = (max: number) => (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) throw new InvalidArgumentError(`expected a whole number from 1 to ${max}`);
  return Number(value);
};
const isoTime = (value: string) => {
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(value) || Number.isNaN(Date.parse(value)))
    throw new InvalidArgumentError('expected an ISO 8601 time, e.g. 2030-01-31T17:00:00Z');
  return new Date(value).toISOString();
};

const printJson = (value: unknown) => console.log(JSON.stringify(value, null, 2));

const rebuildSummary = (r: RebuildResult) =>
  `${r.projection}: rebuilt from ${r.events} events in ${r.seconds} s (${r.eventsPerSecond} events/s` +
  `${r.resumedAt ? `, resumed after ${r.resumedAt} events` : ''}); swapped in at checkpoint ${r.checkpoint}` +
  (r.cacheInvalidated ? '' : ' (the query cache could not be cleared: entries expire within 5 minutes)');

/** `projections status|retry|park|rebuild`, `replay`, `audit history|verify`. */
export const registerOperations = (program: Command) => {
  const projections = program.command('projections').description('inspect, repair and rebuild the projections');

  projections
    .command('status')
    .description('checkpoint, lag, owner and state of each projection')
    .option('--json', 'print JSON')
    .action(({ json }: { json?: boolean }) =>
      runCommand(async (system) => {
        // Compare every projection's counts with the whole log now, rather than show the last check.
        await checkCompleteness(system.completeness, { full: true });
        const statuses = await projectionStatus(system);
        console.log(json ? JSON.stringify({ data: statuses }, null, 2) : formatStatus(statuses));
      }),
    );

  projections
    .command('retry')
    .description('clear the failure of a projection that stopped on an event: its runner tries again')
    .argument('<name>', `the projection: ${PROJECTION_NAMES.join(' | ')}`, projectionArgument)
    .action((name: string) =>
      runCommand(async (system) => {
        const failure = await retryProjection(system.knex, name, operatorName());
        console.log(`${name}: failure on event ${failure.eventId} (${failure.streamId} v${failure.streamVersion}) cleared; its runner tries again within a second`);
      }),
    );

  projections
    .command('park')
    .description('skip the event a projection stopped on, for good, and go on (recorded: who, when, why)')
    .argument('<name>', `the projection: ${PROJECTION_NAMES.join(' | ')}`, projectionArgument)
    .requiredOption('--event <id>', 'the event it stopped on (see projections status)', uuidArgument('an event id'))
    .requiredOption('--reason <text>', 'why it is skipped')
    .action((name: string, { event, reason }: { event: string; reason: string }) =>
      runCommand(async (system) => {
        const operator = operatorName();
        const failure = await parkEvent(system.knex, name, event, reason, operator);
        console.log(`${name}: event ${failure.eventId} (${failure.streamId} v${failure.streamVersion}) parked by ${operator}; its runner skips it and goes on within a second`);
      }),
    );

  projections
    .command('rebuild')
    .description('rebuild a read model from the log into shadow tables, then swap it in (resumable)')
    .argument('[name]', `the projection: ${READ_MODELS.map((m) => m.name).join(' | ')}`)
    .option('--all', 'rebuild every read model, one after the other')
    .option('--json', 'print JSON lines')
    .addOption(new Option('--batch <events>', 'events per batch').argParser(positiveInteger(100_000)).default(DEFAULT_REBUILD_BATCH))
    .action((name: string | undefined, { all, json, batch }: { all?: boolean; json?: boolean; batch: number }) => {
      if (!name === !all) fail(new CliError(name ? 'Give a projection name or --all, not both' : 'Name a projection to rebuild, or use --all'));
      let names: string[] = [];
      try {
        names = all ? READ_MODELS.map((m) => m.name) : [readModelNamed(name!).name];
      } catch (error) {
        fail(error);
      }
      const progress = progressReporter(json ? 'json' : process.stderr.isTTY ? 'bar' : 'lines');
      process.once('SIGINT', () => {
        progress.stop();
        console.error('Interrupted: run the same command again to resume the rebuild where it stopped');
        process.exit(130);
      });
      return runCommand(async (system) => {
        try {
          for (const projection of names) {
            const result = await rebuildProjection(system, projection, { batchSize: batch, onProgress: progress.update });
            progress.stop();
            console.log(json ? JSON.stringify({ event: 'done', ...result }) : rebuildSummary(result));
          }
        } finally {
          progress.stop();
        }
      });
    });

  program
    .command('replay')
    .description('a task folded from the log, as it was at a version or a moment (now by default)')
    .argument('<taskId>', 'the task id', taskIdArgument)
    .addOption(new Option('--version <n>', 'as it was at this version').argParser(positiveInteger(1_000_000)).conflicts('at'))
    .addOption(new Option('--at <time>', 'as it was at this moment (ISO 8601)').argParser(isoTime))
    .option('--json', 'print JSON')
    .action((taskId: string, { version, at, json }: { version?: number; at?: string; json?: boolean }) =>
      runCommand(async (system) => {
        const task = await replayTask(system.eventStore, taskId, { ...(version ? { version } : {}), ...(at ? { asOf: at } : {}) });
        if (json) return printJson(orderedTask(task));
        const when = version ? `at version ${version}` : at ? `as of ${at}` : 'now';
        console.log(`Task ${taskId} ${when}, folded from the log\n${formatTask(task)}`);
      }),
    );

  const audit = program.command('audit').description('who changed what, and whether the read models match the log');

  audit
    .command('history')
    .description("a task's changes: version, time, actor, event and each field before → after")
    .argument('<taskId>', 'the task id', taskIdArgument)
    .option('--json', 'print JSON')
    .action((taskId: string, { json }: { json?: boolean }) =>
      runCommand(async (system) => {
        const entries = await taskAuditTrail(system, taskId);
        console.log(json ? JSON.stringify({ taskId, data: entries }, null, 2) : `History of task ${taskId}\n${formatHistory(entries)}`);
      }),
    );

  audit
    .command('verify')
    .description('fold every stream and compare with the read models; exit code 1 on any difference')
    .option('--projection <name>', `only this read model: ${READ_MODELS.map((m) => m.name).join(' | ')}`)
    .option('--json', 'print JSON')
    .action(({ projection, json }: { projection?: string; json?: boolean }) => {
      try {
        if (projection) readModelNamed(projection);
      } catch (error) {
        fail(error);
      }
      return runCommand(async (system) => {
        const reports = await verifyReadModels(system, projection ? { projection } : {});
        const ok = reports.every(verifiedClean);
        console.log(json ? JSON.stringify({ ok, data: reports }, null, 2) : formatVerify(reports));
        return ok ? 0 : 1;
      });
    });
};
