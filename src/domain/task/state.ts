import type { Stamped } from '../event.js';
import type { TaskEvent, TaskPriority, TaskStatus } from './events.js';

export type Task = Readonly<{
  id: string;
  title: string;
  description: string | null;
  status: TaskStatus;
  priority: TaskPriority;
  dueDate: string | null;
  userId: string;
  isOverdue: boolean;
  version: number;
  createdAt: string;
  updatedAt: string;
}>;

export type TaskState =
  | Readonly<{ kind: 'missing' }>
  | Readonly<{ kind: 'active'; task: Task }>
  | Readonly<{ kind: 'deleted'; task: Task }>;

export const initialState = (): TaskState => ({ kind: 'missing' });

export const evolve = (state: TaskState, event: Stamped<TaskEvent>): TaskState => {
  if (event.type === 'TaskCreated') {
    const { taskId, ...rest } = event.data;
    return {
      kind: 'active',
      task: { id: taskId, ...rest, isOverdue: false, version: 1, createdAt: event.occurredAt, updatedAt: event.occurredAt },
    };
  }
  if (state.kind !== 'active') return state;
  const task = { ...state.task, version: state.task.version + 1, updatedAt: event.occurredAt };
  switch (event.type) {
    case 'TaskDetailsChanged':
      return { kind: 'active', task: { ...task, ...event.data } };
    case 'TaskStatusChanged':
      return {
        kind: 'active',
        task: { ...task, status: event.data.to, isOverdue: event.data.to === 'COMPLETED' ? false : task.isOverdue },
      };
    case 'TaskPriorityChanged':
      return { kind: 'active', task: { ...task, priority: event.data.to } };
    case 'TaskDueDateChanged':
      return {
        kind: 'active',
        task: { ...task, dueDate: event.data.to, isOverdue: event.data.overdueCleared ? false : task.isOverdue },
      };
    case 'TaskReassigned':
      return { kind: 'active', task: { ...task, userId: event.data.toUserId } };
    case 'TaskMarkedOverdue':
      return { kind: 'active', task: { ...task, isOverdue: true } };
    case 'TaskDeleted':
      return { kind: 'deleted', task };
    default: {
      const unexpected: never = event;
      throw new Error(`Unknown task event ${(unexpected as TaskEvent).type}`);
    }
  }
};
