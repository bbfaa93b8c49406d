import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runExclusive, type ExclusiveRunner } from '../../src/infra/lock/exclusive.js';
import { readLeaseRecords, type LeaderLock, type Lease, type LockSettings } from '../../src/infra/lock/lock.js';
import { silentLogger } from '../../src/infra/logger.js';
import { eventually } from '../support/process.js';

export type LockFixture = Readonly<{
  /** A migrated database: the lease records live in its lock_leases table. */
  knex: Knex;
  /** The lock one instance builds; each call stands for another instance, with connections of its own. */
  newLock: (settings: LockSettings) => Promise<LeaderLock>;
  /** Cuts an instance off as a crash or a partition would: its leases can no longer be renewed. */
  sever: (instanceId: string) => Promise<void>;
  dispose: () => Promise<void>;
}>;

const LEASE_MS = 1000;
const RETRY_MS = 200;
/** Timers, connections and a loaded machine: what "about one lease period" may overrun by. */
const SLACK_MS = 1000;

const lockName = () => `contract-${randomUUID()}`;

/** Resolves with the time it took `lease.lost` to abort, or rejects after `timeoutMs`. */
const lossOf = (lease: Lease, timeoutMs: number) =>
  new Promise<number>((resolve, reject) => {
    const started = Date.now();
    if (lease.lost.aborted) return resolve(0);
    const timer = setTimeout(() => reject(new Error(`lease ${lease.name} not reported lost within ${timeoutMs} ms`)), timeoutMs);
    lease.lost.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });

/** The behaviour every LeaderLock adapter must have. */
export const leaderLockContract = (name: string, setup: () => Promise<LockFixture>) =>
  describe(`LeaderLock contract: ${name}`, () => {
    let fixture: LockFixture;
    let locks: LeaderLock[] = [];
    let runners: ExclusiveRunner[] = [];
    const instance = async (id = `instance-${randomUUID().slice(0, 8)}`) => {
      const lock = await fixture.newLock({ leaseMs: LEASE_MS, instanceId: id });
      locks.push(lock);
      return { id, lock };
    };
    const acquired = async (lock: LeaderLock, name: string) => {
      const lease = await lock.tryAcquire(name);
      expect(lease, `expected to acquire ${name}`).not.toBeNull();
      return lease!;
    };

    beforeAll(async () => {
      fixture = await setup();
    });
    afterEach(async () => {
      await Promise.all(runners.map((r) => r.stop()));
      await Promise.all(locks.map((l) => l.close()));
      runners = [];
      locks = [];
    });
    afterAll(() => fixture?.dispose());

    it('gives a free lock to one holder and refuses it to everyone else while held', async () => {
      const [a, b] = [await instance(), await instance()];
      const name = lockName();
      const lease = await acquired(a.lock, name);
      expect(lease.name).toBe(name);
      expect(lease.lost.aborted).toBe(false);
      expect(await b.lock.tryAcquire(name)).toBeNull();
      // Not re-entrant either: the same lock object asking again is refused.
      expect(await a.lock.tryAcquire(name)).toBeNull();
      const record = (await readLeaseRecords(fixture.knex)).find((r) => r.name === name);
      expect(record).toMatchObject({ holder: a.id, fencingToken: lease.fencingToken.toString(), live: true });
    });

    it('frees the lock for another instance as soon as the holder releases it', async () => {
      const [a, b] = [await instance(), await instance()];
      const name = lockName();
      // Repeated, because "at once" is where a release that only closes its connection races.
      for (let round = 0; round < 10; round++) {
        const [holder, next] = round % 2 === 0 ? [a, b] : [b, a];
        const lease = await acquired(holder.lock, name);
        await lease.release();
        expect(lease.lost.aborted).toBe(false);
        const taken = await next.lock.tryAcquire(name);
        expect(taken, `round ${round}: the lock was not free right after release`).not.toBeNull();
        await taken!.release();
      }
      const record = (await readLeaseRecords(fixture.knex)).find((r) => r.name === name);
      expect(record?.live).toBe(false);
    });

    it('issues a strictly greater fencing token with every new lease of a name', async () => {
      const [a, b] = [await instance(), await instance()];
      const name = lockName();
      const tokens: bigint[] = [];
      for (const holder of [a, a, b, a, b, b]) {
        const lease = await acquired(holder.lock, name);
        tokens.push(lease.fencingToken);
        await lease.release();
      }
      for (let i = 1; i < tokens.length; i++) expect(tokens[i]! > tokens[i - 1]!, `tokens ${tokens.join(', ')}`).toBe(true);
    });

    it('keeps a renewed lease well past its lease period', async () => {
      const [a, b] = [await instance(), await instance()];
      const name = lockName();
      const lease = await acquired(a.lock, name);
      const until = Date.now() + 3 * LEASE_MS;
      while (Date.now() < until) {
        await sleep(LEASE_MS / 2);
        expect(await b.lock.tryAcquire(name)).toBeNull();
      }
      expect(lease.lost.aborted).toBe(false);
      const record = (await readLeaseRecords(fixture.knex)).find((r) => r.name === name);
      expect(record).toMatchObject({ holder: a.id, fencingToken: lease.fencingToken.toString(), live: true });
    });

    it('reports a cut-off holder lost within one lease period, before another instance can take the lock', async () => {
      const [a, b] = [await instance(), await instance()];
      const name = lockName();
      const lease = await acquired(a.lock, name);
      const lost = lossOf(lease, LEASE_MS + SLACK_MS);
      await fixture.sever(a.id);
      let lostBeforeTaken = true;
      const taken = await eventually(
        async () => {
          const next = await b.lock.tryAcquire(name);
          if (next && !lease.lost.aborted) lostBeforeTaken = false;
          return next;
        },
        2 * LEASE_MS + SLACK_MS,
        'another instance to take the lock',
      );
      expect(await lost).toBeLessThanOrEqual(LEASE_MS + SLACK_MS);
      expect(lostBeforeTaken, 'two instances believed they held the lock at once').toBe(true);
      expect(lease.lost.reason).toBeInstanceOf(Error);
      expect(taken.fencingToken > lease.fencingToken).toBe(true);
      // The old holder's late release must not free what is now someone else's.
      await lease.release();
      expect(await (await instance()).lock.tryAcquire(name)).toBeNull();
      expect((await readLeaseRecords(fixture.knex)).find((r) => r.name === name)).toMatchObject({ holder: b.id, live: true });
    });

    it('treats different names as independent locks', async () => {
      const [a, b] = [await instance(), await instance()];
      const [x, y] = [lockName(), lockName()];
      const onX = await acquired(a.lock, x);
      const onY = await acquired(b.lock, y);
      expect(await a.lock.tryAcquire(y)).toBeNull();
      expect(await b.lock.tryAcquire(x)).toBeNull();
      await onY.release();
      expect(onX.lost.aborted).toBe(false);
      expect(await b.lock.tryAcquire(x)).toBeNull();
      await acquired(a.lock, y);
    });

    it('releases every lease it holds on close', async () => {
      const [a, b] = [await instance(), await instance()];
      const [x, y] = [lockName(), lockName()];
      await acquired(a.lock, x);
      await acquired(a.lock, y);
      await a.lock.close();
      await acquired(b.lock, x);
      await acquired(b.lock, y);
    });

    describe('runExclusive over it', () => {
      type Run = { runner: string; token: bigint; lease: Lease; stopped: boolean };
      /** Every work started, and whether two were ever running at once. */
      const watchWork = () => {
        const runs: Run[] = [];
        let overlaps = 0;
        const running = () => runs.filter((r) => !r.stopped && !r.lease.lost.aborted);
        const start = (runner: string) => (lease: Lease) => {
          if (running().length > 0) overlaps++;
          const run: Run = { runner, token: lease.fencingToken, lease, stopped: false };
          runs.push(run);
          return { stop: async () => void (run.stopped = true) };
        };
        return { runs, running, start, overlaps: () => overlaps };
      };
      const exclusive = async (watch: ReturnType<typeof watchWork>, name: string, runner: string, id?: string) => {
        const { lock } = await instance(id);
        const r = runExclusive(lock, name, watch.start(runner), { logger: silentLogger(), retryMs: RETRY_MS });
        runners.push(r);
        return r;
      };

      it('runs the work in exactly one of two runners at a time', async () => {
        const watch = watchWork();
        const name = lockName();
        const [one, two] = [await exclusive(watch, name, 'one'), await exclusive(watch, name, 'two')];
        await eventually(async () => watch.runs.length > 0, 2 * RETRY_MS + SLACK_MS, 'the work to start');
        await sleep(3 * LEASE_MS);
        expect(watch.runs).toHaveLength(1);
        expect(watch.running()).toHaveLength(1);
        expect([one.status().held, two.status().held].filter(Boolean)).toHaveLength(1);
        const holder = one.status().held ? one : two;
        expect(holder.status().fencingToken).toBe(watch.runs[0]!.token.toString());
        expect(watch.overlaps()).toBe(0);
      });

      it('hands the work to the other runner when the holder stops', async () => {
        const watch = watchWork();
        const name = lockName();
        const byRunner = { one: await exclusive(watch, name, 'one'), two: await exclusive(watch, name, 'two') };
        await eventually(async () => watch.runs.length > 0, 2 * RETRY_MS + SLACK_MS, 'the work to start');
        const first = watch.runs[0]!;
        const stoppedAt = Date.now();
        await byRunner[first.runner as keyof typeof byRunner].stop();
        expect(first.stopped).toBe(true);
        const second = await eventually(async () => watch.runs[1], LEASE_MS + RETRY_MS + SLACK_MS, 'the other runner to take over');
        expect(Date.now() - stoppedAt).toBeLessThanOrEqual(LEASE_MS + RETRY_MS + SLACK_MS);
        expect(second.runner).not.toBe(first.runner);
        expect(second.token > first.token).toBe(true);
        expect(watch.overlaps()).toBe(0);
      });

      it('stops the work of a holder that loses its lease, and the work resumes under a newer token', async () => {
        const watch = watchWork();
        const name = lockName();
        const ids = { one: `runner-one-${randomUUID().slice(0, 8)}`, two: `runner-two-${randomUUID().slice(0, 8)}` };
        await exclusive(watch, name, 'one', ids.one);
        await exclusive(watch, name, 'two', ids.two);
        await eventually(async () => watch.runs.length > 0, 2 * RETRY_MS + SLACK_MS, 'the work to start');
        const first = watch.runs[0]!;
        const cutAt = Date.now();
        await fixture.sever(ids[first.runner as keyof typeof ids]);
        await eventually(async () => first.stopped, LEASE_MS + SLACK_MS, 'the cut-off holder to stop its work');
        const next = await eventually(async () => watch.runs[1], LEASE_MS + RETRY_MS + SLACK_MS, 'the work to resume');
        expect(Date.now() - cutAt).toBeLessThanOrEqual(LEASE_MS + RETRY_MS + SLACK_MS);
        expect(next.token > first.token).toBe(true);
        expect(watch.overlaps()).toBe(0);
      });
    });
  });
