import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export type Started = { child: ChildProcess; url: string; stop: () => Promise<void>; peakRssMb: () => number };

/** Peak resident set of a process so far (VmHWM), in MB. */
export const peakRssMb = (pid: number) => {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  return line ? Number(line.replace(/\D+/g, '')) / 1024 : NaN;
};

/** Starts a child process and resolves with its URL once a line matching `ready` appears. */
export const startProcess = (args: string[], env: Record<string, string | undefined>, ready: RegExp, toUrl: (m: RegExpExecArray) => string) =>
  new Promise<Started>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => reject(new Error(`not ready after 120 s:\n${output}`)), 120_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 100_000) output = output.slice(-50_000);
      const match = ready.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        child.stderr!.resume();
        resolve({
          child,
          url: toUrl(match),
          peakRssMb: () => peakRssMb(child.pid!),
          stop: () =>
            new Promise<void>((done) => {
              if (child.exitCode !== null) return done();
              child.once('exit', () => done());
              child.kill('SIGTERM');
              setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
            }),
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}:\n${output}`));
    });
  });

export const startHello = (kind: 'node' | 'express') =>
  startProcess(['bench/lib/hello.mjs', kind], { PORT: '0' }, /listening (\d+)/, (m) => `http://127.0.0.1:${m[1]}`);

/** Compiles the server to dist/ (`npm run build`), as `npm start` does; call once before `startTaskFlow`. */
export const buildServer = () => {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
};

/** `npm start` without its build step: node with the flags it sets, on dist/cli/index.js serve. */
const startArgs = () => (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start.split(' ').slice(1);

/** The compiled server, run as `npm start` runs it (see `buildServer`). */
export const startTaskFlow = (env: Record<string, string | undefined>) => {
  if (!existsSync(path.join(ROOT, 'dist/cli/index.js'))) buildServer();
  return startProcess(startArgs(), { PORT: '0', ...env }, /TaskFlow is running at http:\/\/localhost:(\d+)/, (m) => `http://127.0.0.1:${m[1]}`);
};
