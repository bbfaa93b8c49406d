import type { Event } from '../event.js';

export const TASK_STATUSES = ['PENDING', 'IN_PROGRESS', 'COMPLETED'] as const;
export const TASK_PRIORITIES = ['LOW', 'MEDIUM', 'HIGH'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export type TaskPriority = (typeof TASK_PRIORITIES)[number];

export type TaskCreated = Event<
  'TaskCreated',
  {
    taskId: string;
    title: string;
    description: string | null;
    status: TaskStatus;
    priority: TaskPriority;
    dueDate: string | null;
    userId: string;
  }
>;
export type TaskDetailsChanged = Event<'TaskDetailsChanged', { title?: string; description?: string | null }>;
export type TaskStatusChanged = Event<'TaskStatusChanged', { from: TaskStatus; to: TaskStatus }>;
export type TaskPriorityChanged = Event<'TaskPriorityChanged', { from: TaskPriority; to: TaskPriority }>;
/** `overdueCleared`: the new date ended the task's current overdue period. */
export type TaskDueDateChanged = Event<
  'TaskDueDateChanged',
  { from: string | null; to: string | null; overdueCleared: boolean }
>;
export type TaskReassigned = Event<'TaskReassigned', { fromUserId: string; toUserId: string }>;
export type TaskMarkedOverdue = Event<'TaskMarkedOverdue', { dueDate: string; userId: string }>;
export type TaskDeleted = Event<'TaskDeleted', { userId: string }>;

export type TaskEvent =
  | TaskCreated
  | TaskDetailsChanged
  | TaskStatusChanged
  | TaskPriorityChanged
  | TaskDueDateChanged
  | TaskReassigned
  | TaskMarkedOverdue
  | TaskDeleted;

export const TASK_EVENT_TYPES: readonly TaskEvent['type'][] = [
  'TaskCreated',
  'TaskDetailsChanged',
  'TaskStatusChanged',
  'TaskPriorityChanged',
  'TaskDueDateChanged',
  'TaskReassigned',
  'TaskMarkedOverdue',
  'TaskDeleted',
];

export const taskStreamId = (taskId: string): string => `task-${taskId}`;
