import { spawn, type ChildProcess } from 'node:child_process';
import type { ServerRole } from '../../../src/compose.js';
import { CLI, cleanEnv, ROOT, runCli, startServerProcess } from '../../support/process.js';
import { freePort } from '../../support/redis.js';
import { startProxy, type Proxy } from './proxy.js';

export type NodeSpec = Readonly<{ name: string; role: ServerRole; behindProxy?: boolean }>;

export type TaskFlowNode = {
  readonly name: string;
  readonly role: ServerRole;
  readonly port: number;
  readonly url: string;
  readonly behindProxy: boolean;
  child: ChildProcess;
  /** INSTANCE_ID of the running incarnation: `<name>-<generation>`. */
  instanceId: string;
  generation: number;
};

export type Topology = Readonly<{
  env: Record<string, string>;
  nodes: readonly TaskFlowNode[];
  node: (name: string) => TaskFlowNode;
  /** The nodes behind the proxy (the API instances). */
  apis: () => readonly TaskFlowNode[];
  proxy: Proxy;
  /** The node whose incarnation holds (or last held) a lease, by INSTANCE_ID. */
  byInstance: (instanceId: string) => TaskFlowNode | undefined;
  signal: (name: string, signal: NodeJS.Signals) => Promise<{ ms: number; code: number | null; signal: NodeJS.Signals | null }>;
  restart: (name: string) => Promise<TaskFlowNode>;
  alive: (name: string) => boolean;
  close: () => Promise<void>;
}>;

/** The projector, the worker and scheduler, and two API instances behind the proxy. */
export const STANDARD_NODES: readonly NodeSpec[] = [
  { name: 'projector', role: 'projector' },
  { name: 'worker', role: 'worker' },
  { name: 'scheduler', role: 'scheduler' },
  { name: 'api-a', role: 'api', behindProxy: true },
  { name: 'api-b', role: 'api', behindProxy: true },
];

export const JWT_SECRET = 'fault-suite-secret-that-is-long-enough-0123456789';
export const LOCK_LEASE_MS = 3000;

const isRunning = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/**
 * Starts TaskFlow as a user would (`taskflow serve --role …`), one process per spec, each on a
 * fixed port of its own so that a restarted instance comes back where the proxy expects it.
 */
export const startTopology = async (
  options: { databaseUrl: string; redisUrl?: string | undefined; specs?: readonly NodeSpec[] | undefined; env?: Record<string, string> | undefined },
): Promise<Topology> => {
  const env: Record<string, string> = {
    DATABASE_URL: options.databaseUrl,
    JWT_SECRET,
    LOCK_LEASE_MS: String(LOCK_LEASE_MS),
    OVERDUE_CHECK_CRON: '*/2 * * * * *',
    // The suite measures faults, not the rate limiter: its load stays far below these.
    RATE_LIMIT_PER_MINUTE: '1000000',
    AUTH_RATE_LIMIT_PER_MINUTE: '100000',
    LOG_LEVEL: 'warn',
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    ...options.env,
  };
  // One migration and the demo users (an admin among them) before the instances start.
  for (const args of [['migrate'], ['seed']]) {
    const run = await runCli(args, env);
    if (run.code !== 0) throw new Error(`taskflow ${args[0]} failed: ${run.stderr}`);
  }

  const launch = async (node: Omit<TaskFlowNode, 'child'> & { child?: ChildProcess }) => {
    const started = await startServerProcess({ ...env, PORT: String(node.port), INSTANCE_ID: node.instanceId }, ['serve', '--role', node.role]);
    node.child = started.child;
    return node as TaskFlowNode;
  };
  const nodes = await Promise.all(
    (options.specs ?? STANDARD_NODES).map(async (spec) => {
      const port = await freePort();
      return launch({ name: spec.name, role: spec.role, behindProxy: spec.behindProxy ?? false, port, url: `http://127.0.0.1:${port}`, instanceId: `${spec.name}-1`, generation: 1 });
    }),
  );
  const node = (name: string) => {
    const found = nodes.find((n) => n.name === name);
    if (!found) throw new Error(`no node ${name}`);
    return found;
  };
  const apis = () => nodes.filter((n) => n.behindProxy);
  const proxy = await startProxy(() => apis().map((n) => ({ name: n.name, port: n.port })));
  // A test run that dies must not leave servers behind.
  const killAll = () => nodes.forEach((n) => isRunning(n.child) && n.child.kill('SIGKILL'));
  process.once('exit', killAll);

  return {
    env,
    nodes,
    node,
    apis,
    proxy,
    byInstance: (instanceId) => nodes.find((n) => instanceId.startsWith(`${n.name}-`)),
    alive: (name) => isRunning(node(name).child),
    signal: (name, signal) =>
      new Promise((resolve) => {
        const { child } = node(name);
        const sent = performance.now();
        if (!isRunning(child)) return resolve({ ms: 0, code: child.exitCode, signal: child.signalCode });
        child.once('exit', (code, by) => resolve({ ms: performance.now() - sent, code, signal: by }));
        child.kill(signal);
      }),
    restart: async (name) => {
      const n = node(name);
      if (isRunning(n.child)) throw new Error(`${name} is still running`);
      n.generation += 1;
      n.instanceId = `${name}-${n.generation}`;
      return launch(n);
    },
    close: async () => {
      process.removeListener('exit', killAll);
      await proxy.close();
      await Promise.all(
        nodes.map(
          (n) =>
            new Promise<void>((resolve) => {
              if (!isRunning(n.child)) return resolve();
              const force = setTimeout(() => n.child.kill('SIGKILL'), 15_000);
              n.child.once('exit', () => (clearTimeout(force), resolve()));
              n.child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
};

/**
 * A `taskflow` command that the test can watch line by line and kill: `until(test)` resolves with
 * the first stdout line that passes, `exited` with the exit code (null when killed by a signal).
 */
export const spawnCli = (args: readonly string[], env: Record<string, string>) => {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  const waiting = new Set<{ test: (line: string) => boolean; resolve: (line: string | null) => void }>();
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const w of waiting) if (w.test(line)) (waiting.delete(w), w.resolve(line));
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      for (const w of waiting) w.resolve(null);
      resolve(code);
    }),
  );
  return {
    lines,
    stderr: () => stderr,
    exited,
    until: (test: (line: string) => boolean) => new Promise<string | null>((resolve) => waiting.add({ test, resolve })),
    kill: (signal: NodeJS.Signals) => child.kill(signal),
  };
};
