import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startTestApp, type TestApp } from '../support/app.js';

/** A slow appender holds every projection back: operators must be able to see it. */
describe('an append held open inside its transaction', () => {
  let app: TestApp;
  let gate: pg.Client;
  beforeAll(async () => {
    app = await startTestApp();
    // A test-only trigger holds appends of events that ask for it until the gate lets go.
    await app.db.knex.raw(`
      CREATE FUNCTION hold_append() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.data->>'title' = 'held' THEN PERFORM pg_advisory_xact_lock_shared(4242); END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER hold_append AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION hold_append();
    `);
    gate = new pg.Client({ connectionString: app.db.url });
    await gate.connect();
  });
  afterAll(async () => {
    await gate?.end();
    await app?.close();
  });

  it('is named by /health (transaction, process, age) and measured by a metric while it lasts', async () => {
    const { token } = await app.newUser();
    await gate.query('SELECT pg_advisory_lock(4242)');
    const held = app.call('POST', '/tasks', { token, body: { title: 'held' } });
    try {
      await new Promise((r) => setTimeout(r, 1200));
      const health = await app.call('GET', '/health');
      expect(health.body.oldestAppend).toMatchObject({ transactionId: expect.any(String), pid: expect.any(Number) });
      expect(health.body.oldestAppend.ageSeconds).toBeGreaterThanOrEqual(1);
      const metrics = await fetch(`${app.baseUrl}/metrics`).then((r) => r.text());
      const age = Number(/^taskflow_event_log_oldest_append_seconds (\S+)$/m.exec(metrics)?.[1]);
      expect(age).toBeGreaterThanOrEqual(1);
    } finally {
      await gate.query('SELECT pg_advisory_unlock(4242)');
    }
    expect((await held).status).toBe(201);
    expect((await app.call('GET', '/health')).body.oldestAppend).toBeNull();
  });
});
