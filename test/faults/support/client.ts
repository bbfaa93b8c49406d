import { randomBytes } from 'node:crypto';
import { UPSTREAM_HEADER } from './proxy.js';

/** One HTTP exchange as the load saw it. `status` 0: no answer (network error or the client's own timeout). */
export type Sample = Readonly<{
  kind: 'write' | 'read' | 'other';
  op: string;
  /** ms since the recorder started, when the request was sent and when its answer was complete. */
  sentAt: number;
  doneAt: number;
  ms: number;
  status: number;
  /** A non-2xx answer with a problem+json body. */
  problem: boolean;
  code: string | null;
  retryAfter: boolean;
  upstream: string | null;
  error: string | null;
}>;

export type Answer = Readonly<{ status: number; headers: Headers | null; body: any; sample: Sample }>;

export type RequestSpec = Readonly<{
  method?: string;
  path: string;
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  kind?: Sample['kind'];
  op?: string;
}>;

/** Longer than any answer may take (10 s), so a hang is recorded as one rather than waited out. */
export const CLIENT_TIMEOUT_MS = 15_000;

export type Recorder = ReturnType<typeof createRecorder>;

/** Sends requests with fetch and keeps a Sample of each. */
export const createRecorder = () => {
  const origin = performance.now();
  const samples: Sample[] = [];
  const now = () => performance.now() - origin;

  const send = async (base: string, spec: RequestSpec): Promise<Answer> => {
    const headers: Record<string, string> = { ...spec.headers };
    if (spec.body !== undefined) headers['content-type'] = 'application/json';
    if (spec.token) headers.authorization = `Bearer ${spec.token}`;
    const method = spec.method ?? 'GET';
    const sentAt = now();
    const record = (status: number, res: Response | null, body: any, error: string | null): Answer => {
      const doneAt = now();
      const type = res?.headers.get('content-type') ?? '';
      const sample: Sample = {
        kind: spec.kind ?? (method === 'GET' ? 'read' : 'write'),
        op: spec.op ?? `${method} ${spec.path.split('?')[0]}`,
        sentAt,
        doneAt,
        ms: doneAt - sentAt,
        status,
        problem: status >= 400 && type.startsWith('application/problem+json') && typeof body?.status === 'number',
        code: typeof body?.code === 'string' ? body.code : null,
        retryAfter: res?.headers.has('retry-after') ?? false,
        upstream: res?.headers.get(UPSTREAM_HEADER) ?? null,
        error,
      };
      samples.push(sample);
      return { status, headers: res?.headers ?? null, body, sample };
    };
    try {
      const res = await fetch(`${base}${spec.path}`, {
        method,
        headers,
        ...(spec.body !== undefined ? { body: JSON.stringify(spec.body) } : {}),
        signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
      });
      const text = await res.text();
      let body: unknown = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        body = text;
      }
      return record(res.status, res, body, null);
    } catch (error) {
      const e = error as Error & { cause?: { code?: string } };
      return record(0, null, null, e.name === 'TimeoutError' ? 'client timeout' : (e.cause?.code ?? e.message));
    }
  };

  return { samples, now, send };
};

/** `"3"` (or `W/"3"`) → 3. */
export const versionOf = (answer: Answer): number | null => {
  const match = /(\d+)/.exec(answer.headers?.get('etag') ?? '');
  return match ? Number(match[1]) : null;
};

export const isOk = (status: number) => status >= 200 && status < 300;

export type User = Readonly<{ id: string; email: string; token: string }>;

const PASSWORD = 'fault suite password';

/** Registers `count` users through `base` (the proxy); each gets its own token. */
export const registerUsers = async (recorder: Recorder, base: string, count: number): Promise<User[]> => {
  const run = randomBytes(3).toString('hex');
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const email = `fault-${run}-${i}@test.example`;
      const res = await recorder.send(base, { method: 'POST', path: '/auth/register', body: { email, name: `Fault user ${i}`, password: PASSWORD }, kind: 'other' });
      if (res.status !== 201) throw new Error(`register ${email}: ${res.status} ${JSON.stringify(res.body)}`);
      return { id: res.body.user.id as string, email, token: res.body.access_token as string };
    }),
  );
};

/** The demo admin that `taskflow seed` creates: it sees every user's tasks. */
export const loginAdmin = async (recorder: Recorder, base: string): Promise<User> => {
  const res = await recorder.send(base, { method: 'POST', path: '/auth/login', body: { email: 'admin@example.com', password: 'admin123' }, kind: 'other' });
  if (res.status !== 200) throw new Error(`admin login: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.user.id as string, email: 'admin@example.com', token: res.body.access_token as string };
};
