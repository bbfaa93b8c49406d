import { describe, expect, it } from 'vitest';
import { SYSTEM, type Actor } from '../../src/domain/actor.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../src/domain/errors.js';
import { decide, DESCRIPTION_MAX, TITLE_MAX, type TaskChanges, type TaskCommand } from '../../src/domain/task/decide.js';
import type { TaskCreated, TaskEvent, TaskPriority, TaskStatus } from '../../src/domain/task/events.js';
import { evolve, initialState } from '../../src/domain/task/state.js';
import { deciderSpec } from '../support/decider.js';

const NOW = '2025-06-15T12:00:00.000Z';
const PAST = '2025-06-01T09:00:00.000Z';
const EARLIER_PAST = '2025-05-01T09:00:00.000Z';
const FUTURE = '2025-07-01T09:00:00.000Z';

const TASK_ID = '6f1c2a54-8d0e-4c3b-9a61-2f7e5b8d4c10';
const ADA = 'user-ada';
const BOB = 'user-bob';
const ada: Actor = { kind: 'user', userId: ADA, role: 'user' };
const bob: Actor = { kind: 'user', userId: BOB, role: 'user' };
const admin: Actor = { kind: 'user', userId: 'user-admin', role: 'admin' };

// Ada, a plain user, acts on her own task unless a test says otherwise.
const given = deciderSpec({ decide, evolve, initialState }, { now: NOW, actor: ada });

const taskCreated = (data: Partial<TaskCreated['data']> = {}): TaskCreated => ({
  type: 'TaskCreated',
  data: {
    taskId: TASK_ID,
    title: 'Write the decider specs',
    description: null,
    status: 'PENDING',
    priority: 'MEDIUM',
    dueDate: null,
    userId: ADA,
    ...data,
  },
});
const created = taskCreated();
const createdDuePast = taskCreated({ dueDate: PAST });
const markedOverdue = (dueDate = PAST, userId = ADA): TaskEvent => ({ type: 'TaskMarkedOverdue', data: { dueDate, userId } });
const statusChanged = (from: TaskStatus, to: TaskStatus): TaskEvent => ({ type: 'TaskStatusChanged', data: { from, to } });
const priorityChanged = (from: TaskPriority, to: TaskPriority): TaskEvent => ({ type: 'TaskPriorityChanged', data: { from, to } });
const dueDateChanged = (from: string | null, to: string | null, overdueCleared = false): TaskEvent => ({
  type: 'TaskDueDateChanged',
  data: { from, to, overdueCleared },
});
const detailsChanged = (data: { title?: string; description?: string | null }): TaskEvent => ({ type: 'TaskDetailsChanged', data });
const reassigned = (fromUserId: string, toUserId: string): TaskEvent => ({ type: 'TaskReassigned', data: { fromUserId, toUserId } });
const deleted: TaskEvent = { type: 'TaskDeleted', data: { userId: ADA } };

const createTask = (data: Partial<TaskCreated['data']> = {}): TaskCommand => ({ type: 'CreateTask', data: taskCreated(data).data });
const changeDetails = (data: { title?: string; description?: string | null }): TaskCommand => ({ type: 'ChangeTaskDetails', data });
const changeStatus = (status: TaskStatus): TaskCommand => ({ type: 'ChangeTaskStatus', data: { status } });
const changePriority = (priority: TaskPriority): TaskCommand => ({ type: 'ChangeTaskPriority', data: { priority } });
const changeDueDate = (dueDate: string | null): TaskCommand => ({ type: 'ChangeTaskDueDate', data: { dueDate } });
const reassignTask = (userId: string): TaskCommand => ({ type: 'ReassignTask', data: { userId } });
const updateTask = (data: TaskChanges): TaskCommand => ({ type: 'UpdateTask', data });
const deleteTask: TaskCommand = { type: 'DeleteTask', data: {} };
const markTaskOverdue: TaskCommand = { type: 'MarkTaskOverdue', data: {} };

const tooLongTitle = 'x'.repeat(TITLE_MAX + 1);
const tooLongDescription = 'x'.repeat(DESCRIPTION_MAX + 1);

const refusalOf = (run: () => unknown): unknown => {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected the command to be refused');
};

/** Rules every command on an existing task shares: `events` is what Ada's task yields when someone may act on it. */
const itActsOnlyOnVisibleTasks = (command: TaskCommand, events: readonly TaskEvent[]) => {
  it('refuses a task that was never created as not found', () => {
    given([]).when(command).thenThrows(NotFoundError, 'TASK_NOT_FOUND');
  });
  it('refuses a deleted task as not found', () => {
    given([created, deleted]).when(command).thenThrows(NotFoundError, 'TASK_NOT_FOUND');
  });
  it("refuses another user's task as not found, so its existence does not leak", () => {
    given([created]).when(command, { actor: bob }).thenThrows(NotFoundError, 'TASK_NOT_FOUND');
  });
  it("lets an admin act on another user's task", () => {
    given([created]).when(command, { actor: admin }).then(events);
  });
  it('lets the system act on any task', () => {
    given([created]).when(command, { actor: SYSTEM }).then(events);
  });
};

describe('CreateTask', () => {
  it('records a new task with every field as given', () => {
    given([])
      .when(createTask({ description: 'Given/when/then', status: 'IN_PROGRESS', priority: 'HIGH', dueDate: FUTURE }))
      .then([taskCreated({ description: 'Given/when/then', status: 'IN_PROGRESS', priority: 'HIGH', dueDate: FUTURE })]);
  });

  it('accepts a due date in the past (the overdue check marks it later)', () => {
    given([]).when(createTask({ dueDate: PAST })).then([createdDuePast]);
  });

  it('lets an admin create a task for another user', () => {
    given([]).when(createTask({ userId: BOB }), { actor: admin }).then([taskCreated({ userId: BOB })]);
  });

  it('lets the system create a task for any user', () => {
    given([]).when(createTask({ userId: BOB }), { actor: SYSTEM }).then([taskCreated({ userId: BOB })]);
  });

  it('forbids a user to create a task for another user', () => {
    given([]).when(createTask({ userId: BOB })).thenThrows(ForbiddenError, 'ASSIGNMENT_FORBIDDEN');
  });

  it('refuses a task id that is already taken', () => {
    given([created]).when(createTask()).thenThrows(ConflictError, 'TASK_EXISTS');
  });

  it('refuses the id of a deleted task too: its stream still exists', () => {
    given([created, deleted]).when(createTask()).thenThrows(ConflictError, 'TASK_EXISTS');
  });

  it('accepts a title of exactly 200 characters and a description of exactly 5000', () => {
    const title = 'x'.repeat(TITLE_MAX);
    const description = 'x'.repeat(DESCRIPTION_MAX);
    given([]).when(createTask({ title, description })).then([taskCreated({ title, description })]);
  });

  it.each([
    ['empty', ''],
    ['only whitespace', ' \t\n '],
    ['over 200 characters', tooLongTitle],
  ])('refuses a title that is %s', (_, title) => {
    given([]).when(createTask({ title })).thenThrows(ValidationError, 'VALIDATION_FAILED');
  });

  it('refuses a description over 5000 characters', () => {
    given([]).when(createTask({ description: tooLongDescription })).thenThrows(ValidationError, 'VALIDATION_FAILED');
  });

  it('names the offending field in a validation refusal', () => {
    const state = initialState();
    const context = { now: NOW, actor: ada };
    expect(refusalOf(() => decide(createTask({ title: '' }), state, context))).toMatchObject({
      status: 400,
      errors: [{ field: 'title' }],
    });
    expect(refusalOf(() => decide(createTask({ description: tooLongDescription }), state, context))).toMatchObject({
      status: 400,
      errors: [{ field: 'description' }],
    });
  });
});

describe('ChangeTaskDetails', () => {
  it('records a new title', () => {
    given([created]).when(changeDetails({ title: 'Renamed' })).then([detailsChanged({ title: 'Renamed' })]);
  });

  it('records a new description', () => {
    given([created]).when(changeDetails({ description: 'More words' })).then([detailsChanged({ description: 'More words' })]);
  });

  it('records a cleared description', () => {
    given([taskCreated({ description: 'Old words' })])
      .when(changeDetails({ description: null }))
      .then([detailsChanged({ description: null })]);
  });

  it('records title and description together in one event', () => {
    given([created])
      .when(changeDetails({ title: 'Renamed', description: 'More words' }))
      .then([detailsChanged({ title: 'Renamed', description: 'More words' })]);
  });

  it('carries only the fields that actually change', () => {
    const { state } = given([created]);
    const events = decide(changeDetails({ title: created.data.title, description: 'More words' }), state, { now: NOW, actor: ada });
    expect(events).toStrictEqual([{ type: 'TaskDetailsChanged', data: { description: 'More words' } }]);
  });

  it('records nothing when title and description are already as asked', () => {
    given([created]).when(changeDetails({ title: created.data.title, description: null })).thenNothingHappens();
  });

  it('records nothing when no field is named', () => {
    given([created]).when(changeDetails({})).thenNothingHappens();
  });

  it.each([
    ['empty', ''],
    ['only whitespace', '   '],
    ['over 200 characters', tooLongTitle],
  ])('refuses a title that is %s', (_, title) => {
    given([created]).when(changeDetails({ title })).thenThrows(ValidationError, 'VALIDATION_FAILED');
  });

  it('refuses a description over 5000 characters', () => {
    given([created]).when(changeDetails({ description: tooLongDescription })).thenThrows(ValidationError, 'VALIDATION_FAILED');
  });

  it("reports another user's task as not found even when the change is also invalid", () => {
    given([created]).when(changeDetails({ title: '' }), { actor: bob }).thenThrows(NotFoundError, 'TASK_NOT_FOUND');
  });

  itActsOnlyOnVisibleTasks(changeDetails({ title: 'Renamed' }), [detailsChanged({ title: 'Renamed' })]);
});

describe('ChangeTaskStatus', () => {
  it('records the move from one status to another', () => {
    given([created]).when(changeStatus('IN_PROGRESS')).then([statusChanged('PENDING', 'IN_PROGRESS')]);
  });

  it('records completing a task', () => {
    given([created, statusChanged('PENDING', 'IN_PROGRESS')])
      .when(changeStatus('COMPLETED'))
      .then([statusChanged('IN_PROGRESS', 'COMPLETED')]);
  });

  it('records completing an overdue task', () => {
    given([createdDuePast, markedOverdue()]).when(changeStatus('COMPLETED')).then([statusChanged('PENDING', 'COMPLETED')]);
  });

  it('records reopening a completed task', () => {
    given([taskCreated({ status: 'COMPLETED' })]).when(changeStatus('PENDING')).then([statusChanged('COMPLETED', 'PENDING')]);
  });

  it('records nothing when the task already has that status', () => {
    given([created]).when(changeStatus('PENDING')).thenNothingHappens();
  });

  itActsOnlyOnVisibleTasks(changeStatus('COMPLETED'), [statusChanged('PENDING', 'COMPLETED')]);
});

describe('ChangeTaskPriority', () => {
  it('records the move from one priority to another', () => {
    given([created]).when(changePriority('HIGH')).then([priorityChanged('MEDIUM', 'HIGH')]);
  });

  it('records nothing when the task already has that priority', () => {
    given([created]).when(changePriority('MEDIUM')).thenNothingHappens();
  });

  itActsOnlyOnVisibleTasks(changePriority('LOW'), [priorityChanged('MEDIUM', 'LOW')]);
});

describe('ChangeTaskDueDate', () => {
  it('records a first due date', () => {
    given([created]).when(changeDueDate(FUTURE)).then([dueDateChanged(null, FUTURE)]);
  });

  it('accepts a due date in the past', () => {
    given([created]).when(changeDueDate(PAST)).then([dueDateChanged(null, PAST)]);
  });

  it('records removing the due date', () => {
    given([taskCreated({ dueDate: FUTURE })]).when(changeDueDate(null)).then([dueDateChanged(FUTURE, null)]);
  });

  it('records nothing when the due date is already as asked', () => {
    given([taskCreated({ dueDate: FUTURE })]).when(changeDueDate(FUTURE)).thenNothingHappens();
  });

  it('records nothing for the same instant written another way', () => {
    given([taskCreated({ dueDate: FUTURE })]).when(changeDueDate('2025-07-01T11:00:00+02:00')).thenNothingHappens();
  });

  it('records nothing when a task without a due date is asked to have none', () => {
    given([created]).when(changeDueDate(null)).thenNothingHappens();
  });

  it('ends the overdue period when an overdue task is moved into the future', () => {
    given([createdDuePast, markedOverdue()]).when(changeDueDate(FUTURE)).then([dueDateChanged(PAST, FUTURE, true)]);
  });

  it('ends the overdue period when an overdue task loses its due date', () => {
    given([createdDuePast, markedOverdue()]).when(changeDueDate(null)).then([dueDateChanged(PAST, null, true)]);
  });

  it('ends the overdue period when an overdue task is moved to exactly now, which is no longer past', () => {
    given([createdDuePast, markedOverdue()]).when(changeDueDate(NOW)).then([dueDateChanged(PAST, NOW, true)]);
  });

  it('keeps the overdue period when an overdue task is moved to another past date', () => {
    given([createdDuePast, markedOverdue()]).when(changeDueDate(EARLIER_PAST)).then([dueDateChanged(PAST, EARLIER_PAST, false)]);
  });

  it('clears nothing when the task was not marked overdue', () => {
    given([createdDuePast]).when(changeDueDate(FUTURE)).then([dueDateChanged(PAST, FUTURE, false)]);
  });

  itActsOnlyOnVisibleTasks(changeDueDate(FUTURE), [dueDateChanged(null, FUTURE)]);
});

describe('ReassignTask', () => {
  it('lets an admin give a task to another user', () => {
    given([created]).when(reassignTask(BOB), { actor: admin }).then([reassigned(ADA, BOB)]);
  });

  it('lets the system give a task to another user', () => {
    given([created]).when(reassignTask(BOB), { actor: SYSTEM }).then([reassigned(ADA, BOB)]);
  });

  it('forbids a user to give their own task to another user', () => {
    given([created]).when(reassignTask(BOB)).thenThrows(ForbiddenError, 'ASSIGNMENT_FORBIDDEN');
  });

  it('records nothing when a user assigns their own task to themselves', () => {
    given([created]).when(reassignTask(ADA)).thenNothingHappens();
  });

  it('records nothing when an admin assigns a task to its current owner', () => {
    given([created]).when(reassignTask(ADA), { actor: admin }).thenNothingHappens();
  });

  it('lets the new owner act on the task, and no longer the old one', () => {
    given([created, reassigned(ADA, BOB)]).when(changePriority('HIGH'), { actor: bob }).then([priorityChanged('MEDIUM', 'HIGH')]);
    given([created, reassigned(ADA, BOB)]).when(changePriority('HIGH'), { actor: ada }).thenThrows(NotFoundError, 'TASK_NOT_FOUND');
  });

  itActsOnlyOnVisibleTasks(reassignTask(BOB), [reassigned(ADA, BOB)]);
});

describe('UpdateTask', () => {
  it('turns a single changed field into its one event', () => {
    given([created]).when(updateTask({ priority: 'HIGH' })).then([priorityChanged('MEDIUM', 'HIGH')]);
  });

  it('turns several changed fields into events in a fixed order: details, status, priority, due date, owner', () => {
    given([created])
      .when(
        updateTask({ userId: BOB, dueDate: FUTURE, priority: 'LOW', status: 'IN_PROGRESS', description: 'Notes', title: 'Renamed' }),
        { actor: admin },
      )
      .then([
        detailsChanged({ title: 'Renamed', description: 'Notes' }),
        statusChanged('PENDING', 'IN_PROGRESS'),
        priorityChanged('MEDIUM', 'LOW'),
        dueDateChanged(null, FUTURE),
        reassigned(ADA, BOB),
      ]);
  });

  it('skips the fields that already have the asked value', () => {
    given([created])
      .when(updateTask({ title: created.data.title, status: 'PENDING', priority: 'HIGH', dueDate: null, userId: ADA }))
      .then([priorityChanged('MEDIUM', 'HIGH')]);
  });

  it('records nothing when no named field changes', () => {
    given([created]).when(updateTask({ title: created.data.title, status: 'PENDING' })).thenNothingHappens();
  });

  it('refuses an update that names no field', () => {
    given([created]).when(updateTask({})).thenThrows(ValidationError, 'EMPTY_UPDATE');
  });

  it('refuses an update whose fields are all undefined', () => {
    given([created]).when(updateTask({ title: undefined, dueDate: undefined })).thenThrows(ValidationError, 'EMPTY_UPDATE');
  });

  it('reports an empty update of an invisible task as not found, not as empty', () => {
    given([created]).when(updateTask({}), { actor: bob }).thenThrows(NotFoundError, 'TASK_NOT_FOUND');
  });

  it.each([
    ['a blank title', { title: ' ', status: 'COMPLETED' }],
    ['a title over 200 characters', { title: tooLongTitle, priority: 'HIGH' }],
    ['a description over 5000 characters', { description: tooLongDescription, priority: 'HIGH' }],
  ] as const)('refuses the whole update for %s', (_, changes) => {
    given([created]).when(updateTask(changes)).thenThrows(ValidationError, 'VALIDATION_FAILED');
  });

  it('refuses the whole update when a user also gives the task to someone else', () => {
    given([created]).when(updateTask({ status: 'COMPLETED', userId: BOB })).thenThrows(ForbiddenError, 'ASSIGNMENT_FORBIDDEN');
  });

  it('decides each part on the state the previous part left: completing already ended the overdue period', () => {
    given([createdDuePast, markedOverdue()])
      .when(updateTask({ status: 'COMPLETED', dueDate: FUTURE }))
      .then([statusChanged('PENDING', 'COMPLETED'), dueDateChanged(PAST, FUTURE, false)]);
  });

  it('ends the overdue period through a due date moved into the future', () => {
    given([createdDuePast, markedOverdue()])
      .when(updateTask({ dueDate: FUTURE, priority: 'HIGH' }))
      .then([priorityChanged('MEDIUM', 'HIGH'), dueDateChanged(PAST, FUTURE, true)]);
  });

  itActsOnlyOnVisibleTasks(updateTask({ title: 'Renamed', status: 'COMPLETED' }), [
    detailsChanged({ title: 'Renamed' }),
    statusChanged('PENDING', 'COMPLETED'),
  ]);
});

describe('DeleteTask', () => {
  it('records the deletion with the owner it had', () => {
    given([created]).when(deleteTask).then([deleted]);
  });

  it('deletes a completed or overdue task like any other', () => {
    given([createdDuePast, markedOverdue(), statusChanged('PENDING', 'COMPLETED')]).when(deleteTask).then([deleted]);
  });

  it('names the current owner after a reassignment', () => {
    given([created, reassigned(ADA, BOB)])
      .when(deleteTask, { actor: admin })
      .then([{ type: 'TaskDeleted', data: { userId: BOB } }]);
  });

  itActsOnlyOnVisibleTasks(deleteTask, [deleted]);
});

describe('MarkTaskOverdue', () => {
  it('marks an open task whose due date has passed', () => {
    given([createdDuePast]).when(markTaskOverdue, { actor: SYSTEM }).then([markedOverdue()]);
  });

  it('marks a task in progress whose due date has passed', () => {
    given([createdDuePast, statusChanged('PENDING', 'IN_PROGRESS')]).when(markTaskOverdue, { actor: SYSTEM }).then([markedOverdue()]);
  });

  it('names the current owner, who is the one to notify', () => {
    given([createdDuePast, reassigned(ADA, BOB)]).when(markTaskOverdue, { actor: SYSTEM }).then([markedOverdue(PAST, BOB)]);
  });

  it('marks nothing when the due date is exactly now', () => {
    given([taskCreated({ dueDate: NOW })]).when(markTaskOverdue, { actor: SYSTEM }).thenNothingHappens();
  });

  it('marks nothing when the due date is in the future', () => {
    given([taskCreated({ dueDate: FUTURE })]).when(markTaskOverdue, { actor: SYSTEM }).thenNothingHappens();
  });

  it('marks nothing when the task has no due date', () => {
    given([created]).when(markTaskOverdue, { actor: SYSTEM }).thenNothingHappens();
  });

  it('marks nothing when the task is completed', () => {
    given([createdDuePast, statusChanged('PENDING', 'COMPLETED')]).when(markTaskOverdue, { actor: SYSTEM }).thenNothingHappens();
  });

  it('marks nothing a second time in the same overdue period', () => {
    given([createdDuePast, markedOverdue()]).when(markTaskOverdue, { actor: SYSTEM }).thenNothingHappens();
  });

  it('marks nothing when an overdue task is moved to another past date: the period goes on', () => {
    given([createdDuePast, markedOverdue(), dueDateChanged(PAST, EARLIER_PAST, false)])
      .when(markTaskOverdue, { actor: SYSTEM })
      .thenNothingHappens();
  });

  it('marks again once the due date moved into the future and then back into the past', () => {
    given([createdDuePast, markedOverdue(), dueDateChanged(PAST, FUTURE, true), dueDateChanged(FUTURE, EARLIER_PAST)])
      .when(markTaskOverdue, { actor: SYSTEM })
      .then([markedOverdue(EARLIER_PAST)]);
  });

  it('marks again once a completed task is reopened while still past due', () => {
    given([createdDuePast, markedOverdue(), statusChanged('PENDING', 'COMPLETED'), statusChanged('COMPLETED', 'PENDING')])
      .when(markTaskOverdue, { actor: SYSTEM })
      .then([markedOverdue()]);
  });

  it('treats a task that was never created as nothing to do', () => {
    given([]).when(markTaskOverdue, { actor: SYSTEM }).thenNothingHappens();
  });

  it('treats a deleted task as nothing to do', () => {
    given([createdDuePast, deleted]).when(markTaskOverdue, { actor: SYSTEM }).thenNothingHappens();
  });

  it("refuses a user marking another user's task as not found", () => {
    given([createdDuePast]).when(markTaskOverdue, { actor: bob }).thenThrows(NotFoundError, 'TASK_NOT_FOUND');
  });
});
