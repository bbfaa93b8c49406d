import { createPostgresBackend, Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';

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
  const redis = () => {
    const connection = new Redis(backend.redisUrl!, { maxRetriesPerRequest: null });
    connection.on('error', () => undefined);
    redisConnections.push(connection);
    return connection;
  };
  const postgres = { connection: { connectionString: backend.databaseUrl, migrate: true, max: 4 } };
  const queue: Queue<T> = backend.redisUrl
    ? new Queue<T>(name, { connection: redis() })
    : (new Queue(name, postgres, createPostgresBackend) as unknown as Queue<T>);
  queue.on('error', () => undefined);
  const workers = new Set<Worker<T>>();

  return {
    name,
    async enqueue(jobs) {
      if (jobs.length === 0) return;
      await queue.addBulk(jobs.map((job) => ({ name, data: job.data, opts: { ...JOB_OPTIONS, jobId: job.id } })) as never);
    },
    startWorker(handle, options = {}) {
      const processor = (job: Job<T>) => handle(job.data, job);
      const opts = { concurrency: options.concurrency ?? 4 };
      const worker: Worker<T> = backend.redisUrl
        ? new Worker<T>(name, processor, { ...opts, connection: redis() })
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
