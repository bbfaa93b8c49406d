import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInstanceRegistry, type InstanceRegistry } from '../../src/infra/instances.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually } from '../support/process.js';

describe('API instance registry', () => {
  let db: TestDatabase;
  const started: InstanceRegistry[] = [];
  const start = (id: string, onAlone: () => Promise<void> = async () => undefined) => {
    const registry = createInstanceRegistry(db.knex, id, { onAlone });
    started.push(registry);
    return registry;
  };
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(started.map((r) => r.stop()));
    await db?.drop();
  });

  it('knows when it is alone, makes a newcomer wait before it answers writes, and takes over when the other leaves', async () => {
    let adopted = 0;
    const first = start('first', async () => void adopted++);
    await first.writable();
    await eventually(async () => first.alone(), 3000, 'the first instance to be alone');
    expect(adopted).toBe(1);

    const second = start('second');
    const joined = Date.now();
    await second.writable();
    // The newcomer waited until the first one had seen it.
    expect(Date.now() - joined).toBeGreaterThanOrEqual(2400);
    expect(first.alone()).toBe(false);
    expect(second.alone()).toBe(false);

    await second.stop();
    await eventually(async () => first.alone(), 5000, 'the first instance to be alone again');
    expect(adopted).toBe(2);
  }, 20_000);
});
