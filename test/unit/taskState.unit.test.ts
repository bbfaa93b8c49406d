import { describe, expect, it } from 'vitest';
import { stamp, type Stamped } from '../../src/domain/event.js';
import type { TaskCreated, TaskEvent } from '../../src/domain/task/events.js';
import { evolve, initialState, type Task, type TaskState } from '../../src/domain/task/state.js';

const T0 = '2025-06-01T08:00:00.000Z';
const T1 = '2025-06-02T08:00:00.000Z';
const T2 = '2025-06-03T08:00:00.000Z';
const T3 = '2025-06-04T08:00:00.000Z';
const DUE = '2025-06-01T12:00:00.000Z';

const created: TaskCreated = {
  type: 'TaskCreated',
  data: {
    taskId: 'task-1',
    title: 'Write the state specs',
    description: 'Fold every event',
    status: 'PENDING',
    priority: 'MEDIUM',
    dueDate: DUE,
    userId: 'user-ada',
  },
};
const markedOverdue: TaskEvent = { type: 'TaskMarkedOverdue', data: { dueDate: DUE, userId: 'user-ada' } };

/** Folds events stamped one day apart, starting at T0. */
const fold = (...events: TaskEvent[]): TaskState =>
  events.map((event, day): Stamped<TaskEvent> => stamp(event, new Date(Date.parse(T0) + day * 86_400_000).toISOString())).reduce(evolve, initialState());

const activeTask = (state: TaskState): Task => {
  if (state.kind !== 'active') throw new Error(`expected an active task, got ${state.kind}`);
  return state.task;
};

describe('task state', () => {
  it('starts missing', () => {
    expect(initialState()).toEqual({ kind: 'missing' });
  });

  it('is at version 1 after creation, created and updated when TaskCreated occurred, not overdue', () => {
    expect(fold(created)).toEqual({
      kind: 'active',
      task: {
        id: 'task-1',
        title: 'Write the state specs',
        description: 'Fold every event',
        status: 'PENDING',
        priority: 'MEDIUM',
        dueDate: DUE,
        userId: 'user-ada',
        isOverdue: false,
        version: 1,
        createdAt: T0,
        updatedAt: T0,
      },
    });
  });

  it('counts one version per event and takes updatedAt from the latest, keeping createdAt', () => {
    const task = activeTask(
      fold(
        created,
        { type: 'TaskPriorityChanged', data: { from: 'MEDIUM', to: 'HIGH' } },
        { type: 'TaskStatusChanged', data: { from: 'PENDING', to: 'IN_PROGRESS' } },
        { type: 'TaskReassigned', data: { fromUserId: 'user-ada', toUserId: 'user-bob' } },
      ),
    );
    expect(task).toMatchObject({ version: 4, createdAt: T0, updatedAt: T3, priority: 'HIGH', status: 'IN_PROGRESS', userId: 'user-bob' });
  });

  it('applies only the details an event carries', () => {
    expect(activeTask(fold(created, { type: 'TaskDetailsChanged', data: { title: 'Renamed' } }))).toMatchObject({
      title: 'Renamed',
      description: 'Fold every event',
      version: 2,
      updatedAt: T1,
    });
    expect(activeTask(fold(created, { type: 'TaskDetailsChanged', data: { description: null } }))).toMatchObject({
      title: 'Write the state specs',
      description: null,
    });
  });

  it('is overdue after TaskMarkedOverdue', () => {
    expect(activeTask(fold(created, markedOverdue))).toMatchObject({ isOverdue: true, version: 2 });
  });

  it('stops being overdue when completed', () => {
    const task = activeTask(fold(created, markedOverdue, { type: 'TaskStatusChanged', data: { from: 'PENDING', to: 'COMPLETED' } }));
    expect(task).toMatchObject({ isOverdue: false, status: 'COMPLETED', version: 3 });
  });

  it('stays overdue through a status change that does not complete it', () => {
    const task = activeTask(fold(created, markedOverdue, { type: 'TaskStatusChanged', data: { from: 'PENDING', to: 'IN_PROGRESS' } }));
    expect(task).toMatchObject({ isOverdue: true, status: 'IN_PROGRESS' });
  });

  it('stops being overdue when a due date change clears the overdue period', () => {
    const task = activeTask(fold(created, markedOverdue, { type: 'TaskDueDateChanged', data: { from: DUE, to: null, overdueCleared: true } }));
    expect(task).toMatchObject({ isOverdue: false, dueDate: null });
  });

  it('stays overdue when a due date change does not clear the overdue period', () => {
    const task = activeTask(
      fold(created, markedOverdue, { type: 'TaskDueDateChanged', data: { from: DUE, to: T0, overdueCleared: false } }),
    );
    expect(task).toMatchObject({ isOverdue: true, dueDate: T0 });
  });

  it('is deleted after TaskDeleted, keeping the task as it was with its version and time counted', () => {
    const state = fold(created, markedOverdue, { type: 'TaskDeleted', data: { userId: 'user-ada' } });
    expect(state.kind).toBe('deleted');
    expect(state.kind === 'deleted' && state.task).toMatchObject({ id: 'task-1', isOverdue: true, version: 3, updatedAt: T2 });
  });

  it('stays deleted whatever follows', () => {
    const deleted = fold(created, { type: 'TaskDeleted', data: { userId: 'user-ada' } });
    expect(evolve(deleted, stamp({ type: 'TaskPriorityChanged', data: { from: 'MEDIUM', to: 'HIGH' } }, T3))).toBe(deleted);
  });

  it('ignores events for a task that was never created', () => {
    expect(fold(markedOverdue)).toEqual({ kind: 'missing' });
  });
});
