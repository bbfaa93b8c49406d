import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { compose, type System } from '../../src/compose.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/infra/logger.js';
import { seedDemoUsers } from '../../src/seed.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { responseProblems } from './openapi.js';

export type ApiResponse<T = any> = Readonly<{ status: number; headers: Headers; body: T }>;

export type CallOptions = Readonly<{
  token?: string;
  body?: unknown;
  /** Sent as is, without JSON encoding. */
  rawBody?: string;
  headers?: Record<string, string>;
}>;

export type TestApp = Readonly<{
  baseUrl: string;
  db: TestDatabase;
  system: System;
  call: <T = any>(method: string, path: string, options?: CallOptions) => Promise<ApiResponse<T>>;
  login: (email: string, password: string) => Promise<{ token: string; refreshToken: string; userId: string }>;
  /** Registers a fresh user with a unique address and returns its token. */
  newUser: (name?: string) => Promise<{ token: string; refreshToken: string; userId: string; email: string; password: string }>;
  admin: () => Promise<{ token: string; userId: string }>;
  close: () => Promise<void>;
}>;

let counter = 0;

/**
 * The whole service on its own database and a random port, called over real HTTP. Given the
 * database of another test app, it is a second instance of the same cluster (same secret), and
 * leaves the database to that app.
 */
export const startTestApp = async (env: Record<string, string> = {}, shared: { db?: TestDatabase } = {}): Promise<TestApp> => {
  const db = shared.db ?? (await createTestDatabase());
  const jwtSecret = 'test-secret-that-is-long-enough-0123456789';
  // Limits high enough for a test file's traffic; the rate-limit tests set their own.
  const config = loadConfig({
    DATABASE_URL: db.url,
    JWT_SECRET: jwtSecret,
    LOG_LEVEL: 'error',
    RATE_LIMIT_PER_MINUTE: '100000',
    AUTH_RATE_LIMIT_PER_MINUTE: '100000',
    LOGIN_MAX_FAILURES: '1000',
    ...env,
  });
  const logger = silentLogger();
  const system = await compose(config, { url: db.url, embedded: false, jwtSecret, close: async () => {} }, { logger, poolSize: 5 });
  await seedDemoUsers(system.users, logger);
  const server: Server = createServer(system.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const call = async <T = any>(method: string, path: string, options: CallOptions = {}): Promise<ApiResponse<T>> => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    // Every response a test receives must conform to the OpenAPI document.
    const problems = responseProblems(method, path, response.status, response.headers.get('content-type'), parsed);
    if (problems.length) throw new Error(`Response does not match the OpenAPI document:\n${problems.join('\n')}\n${text.slice(0, 500)}`);
    return { status: response.status, headers: response.headers, body: parsed as T };
  };

  const login = async (email: string, password: string) => {
    const res = await call('POST', '/auth/login', { body: { email, password } });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
    return { token: res.body.access_token as string, refreshToken: res.body.refresh_token as string, userId: res.body.user.id as string };
  };

  return {
    baseUrl,
    db,
    system,
    call,
    login,
    async newUser(name = 'Test User') {
      const email = `user${++counter}-${Date.now()}@test.example`;
      const password = 'correct horse battery';
      const res = await call('POST', '/auth/register', { body: { email, name, password } });
      if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
      return { token: res.body.access_token, refreshToken: res.body.refresh_token, userId: res.body.user.id, email, password };
    },
    admin: () => login('admin@example.com', 'admin123'),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await system.close();
      if (!shared.db) await db.drop();
    },
  };
};
