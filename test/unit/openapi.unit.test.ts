import { describe, expect, it } from 'vitest';
import { responseProblems } from '../support/openapi.js';

// The e2e harness validates every response with responseProblems; these prove it can fail.
const task = {
  id: '8f14e45f-ceea-4672-9a5b-1c0b6f2d1e11',
  title: 'A',
  description: null,
  status: 'PENDING',
  priority: 'LOW',
  dueDate: null,
  userId: '8f14e45f-ceea-4672-9a5b-1c0b6f2d1e12',
  isOverdue: false,
  version: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

describe('OpenAPI response validation', () => {
  it('accepts a response that matches the document', () => {
    expect(responseProblems('GET', `/tasks/${task.id}?version=1`, 200, 'application/json; charset=utf-8', task)).toEqual([]);
  });

  it('rejects a body that lacks a field or has an extra one', () => {
    const { version: _, ...missing } = task;
    expect(responseProblems('GET', `/tasks/${task.id}`, 200, 'application/json', missing).join()).toMatch(/version/);
    expect(responseProblems('GET', `/tasks/${task.id}`, 200, 'application/json', { ...task, secret: 1 }).join()).toMatch(/additional/);
  });

  it('rejects a status the operation does not document, and a wrong content type', () => {
    expect(responseProblems('GET', '/tasks/stats', 418, 'application/json', {})).toEqual(['GET /tasks/stats: status 418 is not documented']);
    expect(responseProblems('GET', '/tasks/stats', 401, 'application/json', {}).join()).toMatch(/content type/);
  });

  it('checks problem bodies', () => {
    expect(responseProblems('POST', '/tasks', 400, 'application/problem+json', { status: 400 }).join()).toMatch(/required/);
  });
});
