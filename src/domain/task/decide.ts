import { isPrivileged, type Actor, type CommandContext } from '../actor.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../errors.js';
import { stamp } from '../event.js';
import type { TaskEvent, TaskPriority, TaskStatus } from './events.js';
import { evolve, type Task, type TaskState } from './state.js';

export const TITLE_MAX = 200;
export const DESCRIPTION_MAX = 5000;

export type TaskChanges = Readonly<{
  title?: string;
  description?: string | null;
  status?: TaskStatus;
  priority?: TaskPriority;
  dueDate?: string | null;
  userId?: string;
}>;

export type TaskCommand =
  | { type: 'CreateTask'; data: Required<TaskChanges> & { taskId: string } }
  | { type: 'ChangeTaskDetails'; data: Pick<TaskChanges, 'title' | 'description'> }
  | { type: 'ChangeTaskStatus'; data: { status: TaskStatus } }
  | { type: 'ChangeTaskPriority'; data: { priority: TaskPriority } }
  | { type: 'ChangeTaskDueDate'; data: { dueDate: string | null } }
  | { type: 'ReassignTask'; data: { userId: string } }
  | { type: 'UpdateTask'; data: TaskChanges }
  | { type: 'DeleteTask'; data: Record<string, never> }
  | { type: 'MarkTaskOverdue'; data: Record<string, never> };

const notFound = () => new NotFoundError('Task not found', 'TASK_NOT_FOUND');

const canSee = (actor: Actor, task: Task) => isPrivileged(actor) || (actor.kind === 'user' && task.userId === actor.userId);

/** A task the actor may change; a task they may not see is reported as missing, not forbidden. */
const visibleTask = (state: TaskState, actor: Actor): Task => {
  if (state.kind !== 'active' || !canSee(actor, state.task)) throw notFound();
  return state.task;
};

const assertOwnerAllowed = (actor: Actor, userId: string) => {
  if (!isPrivileged(actor) && actor.kind === 'user' && userId !== actor.userId)
    throw new ForbiddenError('Only an admin can assign a task to another user', 'ASSIGNMENT_FORBIDDEN');
};

const assertDetails = ({ title, description }: Pick<TaskChanges, 'title' | 'description'>) => {
  if (title !== undefined && (title.trim().length === 0 || title.length > TITLE_MAX))
    throw new ValidationError('Invalid task', [{ field: 'title', message: `title must have 1 to ${TITLE_MAX} characters` }]);
  if (description != null && description.length > DESCRIPTION_MAX)
    throw new ValidationError('Invalid task', [
      { field: 'description', message: `description must have at most ${DESCRIPTION_MAX} characters` },
    ]);
};

const isPast = (date: string | null, now: string) => date !== null && Date.parse(date) < Date.parse(now);

const decideOnTask = (command: TaskCommand, task: Task, { now, actor }: CommandContext): TaskEvent[] => {
  switch (command.type) {
    case 'CreateTask':
      throw new ConflictError('Task already exists', 'TASK_EXISTS');
    case 'ChangeTaskDetails': {
      assertDetails(command.data);
      const changed: { title?: string; description?: string | null } = {};
      if (command.data.title !== undefined && command.data.title !== task.title) changed.title = command.data.title;
      if (command.data.description !== undefined && command.data.description !== task.description)
        changed.description = command.data.description;
      return Object.keys(changed).length ? [{ type: 'TaskDetailsChanged', data: changed }] : [];
    }
    case 'ChangeTaskStatus':
      return command.data.status === task.status
        ? []
        : [{ type: 'TaskStatusChanged', data: { from: task.status, to: command.data.status } }];
    case 'ChangeTaskPriority':
      return command.data.priority === task.priority
        ? []
        : [{ type: 'TaskPriorityChanged', data: { from: task.priority, to: command.data.priority } }];
    case 'ChangeTaskDueDate': {
      const to = command.data.dueDate;
      if (to === task.dueDate || (to !== null && task.dueDate !== null && Date.parse(to) === Date.parse(task.dueDate)))
        return [];
      return [{ type: 'TaskDueDateChanged', data: { from: task.dueDate, to, overdueCleared: task.isOverdue && !isPast(to, now) } }];
    }
    case 'ReassignTask':
      assertOwnerAllowed(actor, command.data.userId);
      return command.data.userId === task.userId
        ? []
        : [{ type: 'TaskReassigned', data: { fromUserId: task.userId, toUserId: command.data.userId } }];
    case 'UpdateTask':
      return decideUpdate(command.data, task, { now, actor });
    case 'DeleteTask':
      return [{ type: 'TaskDeleted', data: { userId: task.userId } }];
    case 'MarkTaskOverdue':
      return task.status !== 'COMPLETED' && !task.isOverdue && task.dueDate !== null && isPast(task.dueDate, now)
        ? [{ type: 'TaskMarkedOverdue', data: { dueDate: task.dueDate, userId: task.userId } }]
        : [];
    default: {
      const unexpected: never = command;
      throw new Error(`Unknown task command ${(unexpected as TaskCommand).type}`);
    }
  }
};

/** A PATCH: each changed aspect becomes its own event, each decided on the state the previous one left. */
const decideUpdate = (changes: TaskChanges, task: Task, context: CommandContext): TaskEvent[] => {
  const steps: TaskCommand[] = [];
  if (changes.title !== undefined || changes.description !== undefined)
    steps.push({ type: 'ChangeTaskDetails', data: { title: changes.title, description: changes.description } });
  if (changes.status !== undefined) steps.push({ type: 'ChangeTaskStatus', data: { status: changes.status } });
  if (changes.priority !== undefined) steps.push({ type: 'ChangeTaskPriority', data: { priority: changes.priority } });
  if (changes.dueDate !== undefined) steps.push({ type: 'ChangeTaskDueDate', data: { dueDate: changes.dueDate } });
  if (changes.userId !== undefined) steps.push({ type: 'ReassignTask', data: { userId: changes.userId } });
  if (steps.length === 0) throw new ValidationError('The update names no field to change', [], 'EMPTY_UPDATE');

  const events: TaskEvent[] = [];
  let state: TaskState = { kind: 'active', task };
  for (const step of steps) {
    const current = visibleTask(state, context.actor);
    for (const event of decideOnTask(step, current, context)) {
      events.push(event);
      state = evolve(state, stamp(event, context.now));
    }
  }
  return events;
};

export const decide = (command: TaskCommand, state: TaskState, context: CommandContext): TaskEvent[] => {
  if (command.type === 'CreateTask') {
    if (state.kind !== 'missing') throw new ConflictError('Task already exists', 'TASK_EXISTS');
    assertDetails(command.data);
    assertOwnerAllowed(context.actor, command.data.userId);
    const { taskId, title, description, status, priority, dueDate, userId } = command.data;
    return [{ type: 'TaskCreated', data: { taskId, title, description, status, priority, dueDate, userId } }];
  }
  // The overdue check runs as the system and treats a vanished task as nothing to do.
  if (command.type === 'MarkTaskOverdue' && state.kind !== 'active') return [];
  return decideOnTask(command, visibleTask(state, context.actor), context);
};
