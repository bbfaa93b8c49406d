import { randomUUID } from 'node:crypto';
import { AppError, ValidationError } from '../domain/errors.js';
import type { Event } from '../domain/event.js';
import { derivedId } from '../domain/ids.js';
import { decide, type TaskChanges, type TaskCommand } from '../domain/task/decide.js';
import { taskStreamId, type TaskEvent } from '../domain/task/events.js';
import { evolve, initialState, type TaskState } from '../domain/task/state.js';
import { userStreamId } from '../domain/user/events.js';
import { handleCommand, type CommandDeps, type CommandOptions, type CommandResult, type Decider } from './handleCommand.js';

export const taskDecider: Decider<TaskCommand, TaskEvent, TaskState> = { decide, evolve, initialState };

export type TaskCommandDeps = CommandDeps;

export type NewTask = Readonly<{
  title: string;
  description?: string | null;
  status?: TaskChanges['status'];
  priority?: TaskChanges['priority'];
  dueDate?: string | null;
  userId?: string;
}>;

export type BatchAction = 'complete' | 'delete';
export type BatchResult = Readonly<{ taskId: string; success: boolean; error?: string; code?: string }>;

const batchCommand: Record<BatchAction, TaskCommand> = {
  complete: { type: 'ChangeTaskStatus', data: { status: 'COMPLETED' } },
  delete: { type: 'DeleteTask', data: {} },
};

export const taskCommands = (deps: TaskCommandDeps) => {
  const { eventStore } = deps;
  const run = (taskId: string, command: TaskCommand, options: CommandOptions) =>
    handleCommand(deps, taskDecider, taskStreamId(taskId), command, options);

  /** A task can only be given to someone who exists. */
  const assertUserExists = async (userId: string) => {
    const events: readonly Event[] = await eventStore.readStream(userStreamId(userId), { toVersion: 1 });
    if (events.length === 0)
      throw new ValidationError('Invalid task', [{ field: 'userId', message: 'userId does not name an existing user' }]);
  };

  return {
    async create(input: NewTask, options: CommandOptions): Promise<CommandResult<TaskState>> {
      const { context } = options;
      const userId = input.userId ?? (context.actor.kind === 'user' ? context.actor.userId : undefined);
      if (!userId) throw new ValidationError('Invalid task', [{ field: 'userId', message: 'userId is required' }]);
      const command: TaskCommand = {
        type: 'CreateTask',
        data: {
          // Derived from the command id when there is one: a rerun of the request creates the same task.
          taskId: options.commandId ? derivedId(options.commandId, 'task') : randomUUID(),
          title: input.title,
          description: input.description ?? null,
          status: input.status ?? 'PENDING',
          priority: input.priority ?? 'MEDIUM',
          dueDate: input.dueDate ?? null,
          userId,
        },
      };
      // Decide once up front so a refused command (e.g. 403) is reported before any lookup.
      decide(command, initialState(), context);
      if (userId !== (context.actor.kind === 'user' ? context.actor.userId : null)) await assertUserExists(userId);
      return run(command.data.taskId, command, { ...options, newStream: true });
    },

    async update(taskId: string, changes: TaskChanges, options: CommandOptions) {
      if (changes.userId !== undefined) await assertUserExists(changes.userId);
      return run(taskId, { type: 'UpdateTask', data: changes }, options);
    },

    delete: (taskId: string, options: CommandOptions) => run(taskId, { type: 'DeleteTask', data: {} }, options),

    markOverdue: (taskId: string, options: CommandOptions) => run(taskId, { type: 'MarkTaskOverdue', data: {} }, options),

    /**
     * One result per id, in order; a task that fails does not stop the others. Each item is a
     * command of its own, whose id (under a request's command id) is derived from its index.
     */
    async batch(
      taskIds: readonly string[],
      action: BatchAction,
      options: Pick<CommandOptions, 'context' | 'correlationId' | 'traceparent' | 'commandId' | 'recovering'>,
    ) {
      const results: BatchResult[] = [];
      const positions: NonNullable<CommandResult<TaskState>['position']>[] = [];
      for (const [index, taskId] of taskIds.entries()) {
        const commandId = options.commandId && derivedId(options.commandId, 'batch', String(index));
        try {
          const result = await run(taskId, batchCommand[action], { ...options, ...(commandId ? { commandId } : {}) });
          if (result.reflects) positions.push(result.reflects);
          results.push({ taskId, success: true });
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          results.push({ taskId, success: false, error: error.message, code: error.code });
        }
      }
      return { results, positions };
    },
  };
};
export type TaskCommands = ReturnType<typeof taskCommands>;
