import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/infra/db/embedded.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
  }
}

/**
 * Tests run against TEST_DATABASE_URL (CI points it at the machine's PostgreSQL); without it,
 * against an embedded PostgreSQL started here, so `npm test` needs nothing but Node.
 */
export default async function setup(project: TestProject) {
  const given = process.env.TEST_DATABASE_URL;
  if (given) {
    project.provide('adminDatabaseUrl', given);
    return;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'taskflow-test-'));
  const db = await startEmbeddedPostgres(dir, { database: 'postgres' });
  project.provide('adminDatabaseUrl', db.url);
  return async () => {
    await db.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
