import { readdirSync, readFileSync } from 'node:fs';

// CPU time per request is steadier than requests per second on a shared machine: it says what a
// request costs, whatever else runs. Read from /proc (Linux); elsewhere the figures are NaN.

const TICK_MS = 10; // USER_HZ is 100 on Linux

/**
 * Parent pid and CPU time (user + system, ms) of a process, or null when it is gone; `reapedMs`
 * is the CPU of its children that ended (a postmaster's finished backends).
 */
const statOf = (pid: number) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return { ppid: Number(fields[1]), ms: (Number(fields[11]) + Number(fields[12])) * TICK_MS, reapedMs: (Number(fields[13]) + Number(fields[14])) * TICK_MS };
  } catch {
    return null;
  }
};

/** CPU ms of a process and of its children, running or ended (a postmaster and its backends). */
const treeMs = (pid: number) => {
  const root = statOf(pid);
  let ms = root ? root.ms + root.reapedMs : NaN;
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return NaN;
  }
  for (const child of pids) {
    const stat = statOf(Number(child));
    if (stat?.ppid === pid) ms += stat.ms;
  }
  return ms;
};

export type CpuCost = Readonly<{ serverUs: number; postgresUs: number }>;

/** Measures the CPU a run costs the server and PostgreSQL, per request (µs). */
export const cpuMeter = (serverPid: number | null, postgresPid: number | null) => {
  const read = () => ({ server: serverPid ? (statOf(serverPid)?.ms ?? NaN) : NaN, postgres: postgresPid ? treeMs(postgresPid) : NaN });
  return async <T extends { requests: number }>(run: () => Promise<T>): Promise<T & CpuCost> => {
    const before = read();
    const result = await run();
    const after = read();
    const per = (a: number, b: number) => (result.requests > 0 ? ((b - a) * 1000) / result.requests : NaN);
    return { ...result, serverUs: per(before.server, after.server), postgresUs: per(before.postgres, after.postgres) };
  };
};
