import { createPostgresBackend, Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';

/** A pg client that never throws its 'error' event: the query it was running fails instead. */
class QuietClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    this.on('error', () => undefined);
  }
}

export type JobSpec<T> = Readonly<{ id: string; data: T }>;

export type JobQueue<T> = Readonly<{
  name: string;
  /** Adds jobs; a job whose id is already known is not added twice. */
  enqueue: (jobs: readonly JobSpec<T>[]) => Promise<void>;
  startWorker: (handle: (data: T, job: Job<T>) => Promise<void>, options?: { concurrency?: number }) => { close: () => Promise<void> };
  counts: () => Promise<Record<string, number>>;
  failedJobs: (limit: number) => Promise<{ id: string; failedReason: string; attemptsMade: number }[]>;
  close: () => Promise<void>;
}>;

export type QueueBackend = Readonly<{ redisUrl: string | null; databaseUrl: string }>;

const ENQUEUE_TIMEOUT_MS = 5000;

const JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  // Failed jobs are kept so an operator can see and retry them.
  removeOnFail: false,
} as const;

/**
 * A BullMQ queue on Redis when REDIS_URL is set, otherwise on PostgreSQL through BullMQ 6's
 * `createPostgresBackend` (its tables live in the `bullmq` schema, migrated on first connect).
 */
export const createJobQueue = <T>(name: string, backend: QueueBackend): JobQueue<T> => {
  const redisConnections: Redis[] = [];
  // Workers wait for Redis to come back (BullMQ needs that of them); the producer fails at once
  // instead, so the subscription that enqueues says it is retrying rather than hanging.
  const redis = (role: 'producer' | 'worker') => {
    const connection = new Redis(backend.redisUrl!, role === 'producer' ? { maxRetriesPerRequest: 1, enableOfflineQueue: false } : { maxRetriesPerRequest: null });
    connection.on('error', () => undefined);
    redisConnections.push(connection);
    return connection;
  };
  // A connection lost while checked out (the backend's migration at start) must not crash the process.
  const postgres = { connection: { connectionString: backend.databaseUrl, migrate: true, max: 4, Client: QuietClient } };
  const queue: Queue<T> = backend.redisUrl
    ? new Queue<T>(name, { connection: redis('producer') })
    : (new Queue(name, postgres, createPostgresBackend) as unknown as Queue<T>);
  queue.on('error', () => undefined);
  const workers = new Set<Worker<T>>();

  return {
    name,
    async enqueue(jobs) {
      if (jobs.length === 0) return;
      const added = queue.addBulk(jobs.map((job) => ({ name, data: job.data, opts: { ...JOB_OPTIONS, jobId: job.id } })) as never);
      // BullMQ waits for a first connection however long it takes: give up (the caller retries;
      // a late add of the same job ids changes nothing).
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Command timed out: the job queue did not answer within ${ENQUEUE_TIMEOUT_MS} ms`)), ENQUEUE_TIMEOUT_MS);
      });
      added.catch(() => undefined);
      await Promise.race([added, late]).finally(() => clearTimeout(timer));
    },
    startWorker(handle, options = {}) {
      const processor = (job: Job<T>) => handle(job.data, job);
      const opts = { concurrency: options.concurrency ?? 4 };
      const worker: Worker<T> = backend.redisUrl
        ? new Worker<T>(name, processor, { ...opts, connection: redis('worker') })
        : (new Worker(name, processor as never, { ...opts, ...postgres }, createPostgresBackend) as unknown as Worker<T>);
      worker.on('error', () => undefined);
      workers.add(worker);
      return {
        close: async () => {
          workers.delete(worker);
          await worker.close();
        },
      };
    },
    counts: () => queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed'),
    async failedJobs(limit) {
      const jobs = await queue.getFailed(0, limit - 1);
      return jobs.map((j) => ({ id: String(j.id), failedReason: j.failedReason, attemptsMade: j.attemptsMade }));
    },
    async close() {
      await Promise.all([...workers].map((w) => w.close()));
      await queue.close();
      await Promise.all(redisConnections.map((c) => c.quit().catch(() => undefined)));
    },
  };
};
