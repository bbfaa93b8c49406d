import { randomBytes } from 'node:crypto';
import type { Recorder } from './client.js';

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
