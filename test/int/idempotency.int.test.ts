import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdempotentRun } from '../../src/http/context.js';
import { idempotency } from '../../src/http/idempotency.js';
import { problemHandler } from '../../src/http/problem.js';
import { createKnex } from '../../src/infra/db/knex.js';
import { silentLogger } from '../../src/infra/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const SETTINGS = { leaseMs: 600, renewEveryMs: 100 };
const USER = randomUUID();

type Instance = Readonly<{ url: string; knex: Knex; runs: IdempotentRun[]; close: () => Promise<void> }>;
type Behaviour = { status: number; until?: Promise<void> };

/**
 * One instance's Idempotency-Key middleware in front of a route that records the claim each run
 * gets, answers with `behaviour.status` and, if told, holds the request until `until` settles.
 */
const startInstance = async (url: string, behaviour: (body: { n: number }) => Behaviour): Promise<Instance> => {
  const knex = createKnex(url, { max: 4 });
  const runs: IdempotentRun[] = [];
  const app = express();
  app.use(express.json());
  app.use((_req, res, next) => {
    res.locals.actor = { kind: 'user', userId: USER, role: 'user' };
    next();
  });
  app.use(idempotency(knex, undefined, SETTINGS));
  app.post('/work', async (req, res) => {
    const run = res.locals.idempotency as IdempotentRun;
    runs.push(run);
    const { status, until } = behaviour(req.body);
    await until;
    res.status(status).json({ claimId: run.claimId, run: runs.length });
  });
  app.use(problemHandler(silentLogger()));
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    knex,
    runs,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await knex.destroy().catch(() => undefined);
    },
  };
};

const post = async (instance: Instance, key: string, body: unknown = { n: 1 }) => {
  const res = await fetch(`${instance.url}/work`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
  });
  return { status: res.status, replayed: res.headers.get('idempotent-replayed') === 'true', body: (await res.json()) as { claimId?: string; code?: string } };
};

/** Resolves once the instance has started running the request (its claim is taken). */
const started = async (instance: Instance, count = 1) => {
  while (instance.runs.length < count) await new Promise((r) => setTimeout(r, 10));
};

describe('Idempotency-Key claims: lease and takeover (int, PostgreSQL)', () => {
  let db: TestDatabase;
  const instances: Instance[] = [];
  const start = async (behaviour: (body: { n: number }) => Behaviour) => {
    const instance = await startInstance(db.url, behaviour);
    instances.push(instance);
    return instance;
  };
  const never = new Promise<void>(() => undefined);

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(instances.map((i) => i.close()));
    await db?.drop();
  });

  const row = (key: string) => db.knex('idempotency_keys').where({ scope: USER, key }).first();

  it('a claim whose owner stopped renewing is taken over by the retry, which keeps its claim id', async () => {
    const owner = await start(() => ({ status: 201, until: never }));
    const other = await start(() => ({ status: 201 }));
    const key = randomUUID();
    void post(owner, key).catch(() => undefined);
    await started(owner);
    // The owner loses its database: its renewals stop, as when its process dies.
    await owner.knex.destroy();

    const began = Date.now();
    const retry = await post(other, key);
    console.log(`takeover after ${Date.now() - began} ms (lease ${SETTINGS.leaseMs} ms)`);
    expect(retry.status).toBe(201);
    expect(retry.replayed).toBe(false);
    expect(other.runs).toEqual([{ claimId: owner.runs[0]!.claimId, recovering: true }]);
    expect(await row(key)).toMatchObject({ claim_id: owner.runs[0]!.claimId, attempts: 2, status: 201 });
  });

  it('while its owner is alive, a duplicate waits (past the lease) and replays the first response', async () => {
    let release!: () => void;
    const slow = new Promise<void>((resolve) => (release = resolve));
    const owner = await start(() => ({ status: 201, until: slow }));
    const other = await start(() => ({ status: 201 }));
    const key = randomUUID();
    const first = post(owner, key);
    await started(owner);
    const duplicate = post(other, key);
    setTimeout(release, SETTINGS.leaseMs * 3);

    const [a, b] = await Promise.all([first, duplicate]);
    expect(a).toMatchObject({ status: 201, replayed: false });
    expect(b).toEqual({ ...a, replayed: true });
    expect(other.runs).toHaveLength(0);
    expect((await row(key)).attempts).toBe(1);
  });

  it('a 5xx keeps the claim and releases it: the retry takes it over at once, under the same claim id', async () => {
    const instance = await start(({ n }) => ({ status: n === 1 ? 503 : 201 }));
    const key = randomUUID();
    expect((await post(instance, key, { n: 1 })).status).toBe(503);
    expect(await row(key)).toMatchObject({ status: null, claim_id: instance.runs[0]!.claimId });

    // The same body (a retry is the same request); the route tells the runs apart by their claim.
    instance.runs.length = 0;
    const retried = await startInstance(db.url, () => ({ status: 201 }));
    instances.push(retried);
    const retry = await post(retried, key, { n: 1 });
    expect(retry.status).toBe(201);
    expect(retried.runs).toEqual([{ claimId: (await row(key)).claim_id, recovering: true }]);
  });

  it('several retries of an abandoned claim at once: one takes it over, the others replay its response', async () => {
    const owner = await start(() => ({ status: 201, until: never }));
    const key = randomUUID();
    void post(owner, key).catch(() => undefined);
    await started(owner);
    await owner.knex.destroy();

    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const other = await start(() => ({ status: 201, until: held }));
    const retries = Array.from({ length: 5 }, () => post(other, key));
    await started(other);
    // Let the others find the claim renewed by its new owner, then finish.
    setTimeout(release, SETTINGS.leaseMs * 2);
    const answers = await Promise.all(retries);

    expect(other.runs).toHaveLength(1);
    expect(answers.filter((a) => !a.replayed)).toHaveLength(1);
    for (const answer of answers) expect(answer).toMatchObject({ status: 201, body: { claimId: owner.runs[0]!.claimId, run: 1 } });
  });

  it('another body under a claimed key is 422 whatever state the claim is in', async () => {
    const instance = await start(() => ({ status: 201 }));
    const key = randomUUID();
    await post(instance, key, { n: 1 });
    expect(await post(instance, key, { n: 2 })).toMatchObject({ status: 422, body: { code: 'IDEMPOTENCY_KEY_REUSED' } });
  });
});
