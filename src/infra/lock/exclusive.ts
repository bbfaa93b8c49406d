import type { Logger } from '../logger.js';
import type { LeaderLock, Lease } from './lock.js';

export type Work = Readonly<{ stop: () => Promise<void> }>;

/**
 * Keeps trying to hold `name`; while held, runs the work that `start` begins, and stops it the
 * moment the lease is lost (then tries again). Gives failover: when the holder dies, another
 * instance's next attempt (every `retryMs`) takes over.
 */
export const runExclusive = (
  lock: LeaderLock,
  name: string,
  start: (lease: Lease) => Promise<Work> | Work,
  { logger, retryMs = 1000 }: { logger: Logger; retryMs?: number },
) => {
  let stopping = false;
  let current: Lease | null = null;
  let wake: (() => void) | null = null;
  const pause = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done);
      wake = done;
    });

  const loop = async () => {
    while (!stopping) {
      let lease: Lease | null = null;
      try {
        lease = await lock.tryAcquire(name);
      } catch (error) {
        logger.warn('could not try the lock', { lock: name, error: (error as Error).message });
      }
      if (!lease) {
        await pause(retryMs);
        continue;
      }
      current = lease;
      logger.info('acquired lock', { lock: name, fencingToken: lease.fencingToken.toString() });
      let work: Work | null = null;
      let failed = false;
      try {
        work = await start(lease);
        while (!stopping && !lease.lost.aborted) await pause(60_000, lease.lost);
      } catch (error) {
        failed = true;
        logger.error('work under lock failed', { lock: name, error });
      }
      if (lease.lost.aborted) logger.warn('lost lock; stopping its work', { lock: name });
      await work?.stop().catch((error) => logger.error('stopping work failed', { lock: name, error }));
      await lease.release().catch(() => undefined);
      current = null;
      if (failed && !stopping) await pause(retryMs);
    }
  };
  const done = loop();

  return {
    name,
    status: () => ({ held: current !== null, fencingToken: current?.fencingToken.toString() ?? null }),
    async stop() {
      stopping = true;
      wake?.();
      await done;
    },
  };
};
export type ExclusiveRunner = ReturnType<typeof runExclusive>;
