import { spawn } from 'node:child_process';
import { CLI, cleanEnv, ROOT } from '../../support/process.js';

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
