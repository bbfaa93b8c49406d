import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JWT_AUDIENCE, JWT_ISSUER } from '../../src/http/tokens.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { expectInvalidFields, expectProblem, GENEROUS_LIMITS } from './expectations.js';

// The secret test/support/app.ts starts the service with.
const HARNESS_JWT_SECRET = 'test-secret-that-is-long-enough-0123456789';

let app: TestApp;
let seq = 0;
const uniqueEmail = () => `auth${++seq}-${randomUUID().slice(0, 8)}@test.example`;
const PASSWORD = 'a long enough password';

const register = (body: Record<string, unknown>) => app.call('POST', '/auth/register', { body });
const login = (email: string, password: string) => app.call('POST', '/auth/login', { body: { email, password } });
const refresh = (token: string) => app.call('POST', '/auth/refresh', { body: { refresh_token: token } });
const me = (token?: string, headers?: Record<string, string>) => app.call('GET', '/users/me', { token, headers });

const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const claimsFor = (userId: string) => ({ sub: userId, role: 'user', iss: JWT_ISSUER, aud: JWT_AUDIENCE });
const signAccess = (claims: object, secret = HARNESS_JWT_SECRET) => jwt.sign(claims, secret, { algorithm: 'HS256' });

const expectTokenPair = (body: any) => {
  expect(body.access_token).toEqual(expect.any(String));
  expect(body.refresh_token).toEqual(expect.any(String));
  expect(body.access_token).not.toBe(body.refresh_token);
};

describe('auth (e2e)', () => {
  beforeAll(async () => {
    app = await startTestApp(GENEROUS_LIMITS);
  });
  afterAll(() => app?.close());

  describe('POST /auth/register', () => {
    it('201 with a token pair and the public user, never the password or its hash', async () => {
      const email = uniqueEmail();
      const res = await register({ email, name: 'Ada', password: PASSWORD });

      expect(res.status).toBe(201);
      expectTokenPair(res.body);
      expect(res.body.user).toMatchObject({ id: expect.any(String), email, name: 'Ada', role: 'user' });
      const text = JSON.stringify(res.body);
      expect(text).not.toMatch(/password|hash|argon/i);
      expect(text).not.toContain(PASSWORD);
    });

    it('the issued access token works straight away', async () => {
      const res = await register({ email: uniqueEmail(), name: 'Bo', password: PASSWORD });
      const profile = await me(res.body.access_token);
      expect(profile.status).toBe(200);
      expect(profile.body.id).toBe(res.body.user.id);
    });

    it('409 for an address already taken, whatever its case', async () => {
      const local = `case${randomUUID().slice(0, 8)}`;
      expect((await register({ email: `${local}@x.example`, name: 'Lower', password: PASSWORD })).status).toBe(201);

      expectProblem(await register({ email: `${local}@x.example`, name: 'Again', password: PASSWORD }), 409);
      expectProblem(await register({ email: `${local[0]!.toUpperCase()}${local.slice(1)}@X.example`, name: 'Upper', password: PASSWORD }), 409);
    });

    it('signs in with the address in another case', async () => {
      const email = uniqueEmail();
      await register({ email, name: 'Case', password: PASSWORD });
      expect((await login(email.toUpperCase(), PASSWORD)).status).toBe(200);
    });

    it('400 problem+json naming each missing field', async () => {
      const res = await register({});
      expectInvalidFields(res, ['email', 'name', 'password']);
      expect(res.body.code).toBe('VALIDATION_FAILED');
    });

    it('400 for a malformed email', async () => {
      expectInvalidFields(await register({ email: 'not-an-email', name: 'X', password: PASSWORD }), ['email']);
    });

    it('400 for a password shorter than 8 characters, 201 at exactly 8', async () => {
      expectInvalidFields(await register({ email: uniqueEmail(), name: 'X', password: '1234567' }), ['password']);
      expect((await register({ email: uniqueEmail(), name: 'X', password: '12345678' })).status).toBe(201);
    });

    it('400 for an unknown field (no self-promotion through the body)', async () => {
      const res = await register({ email: uniqueEmail(), name: 'X', password: PASSWORD, role: 'admin' });
      expectInvalidFields(res, ['role']);
    });

    it('400 problem+json for a body that is not JSON', async () => {
      const res = await app.call('POST', '/auth/register', {
        rawBody: '{"email":',
        headers: { 'content-type': 'application/json' },
      });
      expectProblem(res, 400);
    });

    it('concurrent registrations of one address: exactly one 201, the rest 409', async () => {
      const local = `race${randomUUID().slice(0, 8)}`;
      const variants = [`${local}@race.example`, `${local.toUpperCase()}@RACE.example`];
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => register({ email: variants[i % 2], name: `Racer ${i}`, password: PASSWORD })),
      );

      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([201, ...Array<number>(9).fill(409)]);
      const winner = results.find((r) => r.status === 201)!;
      const signedIn = await login(variants[0]!, PASSWORD);
      expect(signedIn.status).toBe(200);
      expect(signedIn.body.user.id).toBe(winner.body.user.id);
    });
  });

  describe('POST /auth/login', () => {
    it('200 with a token pair and the user', async () => {
      const email = uniqueEmail();
      const registered = await register({ email, name: 'Login', password: PASSWORD });
      const res = await login(email, PASSWORD);

      expect(res.status).toBe(200);
      expectTokenPair(res.body);
      expect(res.body.user).toMatchObject({ id: registered.body.user.id, email, role: 'user' });
      expect(JSON.stringify(res.body)).not.toMatch(/password|hash/i);
    });

    it('signs in the seeded demo users with their roles', async () => {
      expect((await login('admin@example.com', 'admin123')).body.user.role).toBe('admin');
      expect((await login('user@example.com', 'user123')).body.user.role).toBe('user');
    });

    it('401 with the same message for a wrong password and an unknown email', async () => {
      const email = uniqueEmail();
      await register({ email, name: 'Secret', password: PASSWORD });

      const wrongPassword = await login(email, 'not the password');
      const unknownEmail = await login(uniqueEmail(), PASSWORD);
      expectProblem(wrongPassword, 401);
      expectProblem(unknownEmail, 401);
      expect(unknownEmail.body.detail).toBe(wrongPassword.body.detail);
      expect(unknownEmail.body.code).toBe(wrongPassword.body.code);
    });

    it('400 when a field is missing', async () => {
      expectInvalidFields(await app.call('POST', '/auth/login', { body: { email: uniqueEmail() } }), ['password']);
    });
  });

  describe('POST /auth/refresh and /auth/logout', () => {
    const signIn = async () => {
      const email = uniqueEmail();
      await register({ email, name: 'Refresher', password: PASSWORD });
      return (await login(email, PASSWORD)).body as { access_token: string; refresh_token: string; user: { id: string } };
    };

    it('rotates: 200 with a new, working pair', async () => {
      const first = await signIn();
      const res = await refresh(first.refresh_token);

      expect(res.status).toBe(200);
      expectTokenPair(res.body);
      expect(res.body.refresh_token).not.toBe(first.refresh_token);
      expect(res.body.access_token).not.toBe(first.access_token);
      expect((await me(res.body.access_token)).body.id).toBe(first.user.id);
      expect((await refresh(res.body.refresh_token)).status).toBe(200);
    });

    it('reusing a rotated token is 401 and revokes the newer token of the same family', async () => {
      const first = await signIn();
      const second = await refresh(first.refresh_token);
      expect(second.status).toBe(200);

      expectProblem(await refresh(first.refresh_token), 401);
      expectProblem(await refresh(second.body.refresh_token), 401);
    });

    it('revoking one family leaves another session of the same user alone', async () => {
      const email = uniqueEmail();
      await register({ email, name: 'Two devices', password: PASSWORD });
      const laptop = (await login(email, PASSWORD)).body;
      const phone = (await login(email, PASSWORD)).body;

      await refresh(laptop.refresh_token);
      expect((await refresh(laptop.refresh_token)).status).toBe(401);
      expect((await refresh(phone.refresh_token)).status).toBe(200);
    });

    it('401 for a refresh token that was never issued', async () => {
      expectProblem(await refresh(`${randomUUID()}.bogus-secret`), 401);
      expectProblem(await refresh('garbage'), 401);
    });

    it('400 when refresh_token is missing', async () => {
      expectInvalidFields(await app.call('POST', '/auth/refresh', { body: {} }), ['refresh_token']);
    });

    it('logout is 204, and the token no longer refreshes', async () => {
      const session = await signIn();
      const res = await app.call('POST', '/auth/logout', { body: { refresh_token: session.refresh_token } });

      expect(res.status).toBe(204);
      expect(res.body).toBeNull();
      expectProblem(await refresh(session.refresh_token), 401);
    });
  });

  describe('access tokens', () => {
    let userId: string;
    beforeAll(async () => {
      userId = (await app.newUser('Token holder')).userId;
    });

    it('a token crafted the way the service signs them is accepted (control for the cases below)', async () => {
      const token = signAccess({ ...claimsFor(userId), exp: Math.floor(Date.now() / 1000) + 60 });
      expect((await me(token)).status).toBe(200);
    });

    it('401 problem+json when missing', async () => {
      expectProblem(await me(), 401);
      expectProblem(await app.call('GET', '/tasks'), 401);
    });

    it('401 when malformed', async () => {
      expectProblem(await me('not-a-jwt'), 401);
      expectProblem(await me('a.b.c'), 401);
      expectProblem(await me(undefined, { authorization: 'Basic dXNlcjpwYXNz' }), 401);
    });

    it('401 when signed with another secret', async () => {
      const token = signAccess({ ...claimsFor(userId), exp: Math.floor(Date.now() / 1000) + 60 }, 'another-secret-that-is-long-enough-987654');
      expectProblem(await me(token), 401);
    });

    it('401 when expired', async () => {
      const token = signAccess({ ...claimsFor(userId), iat: Math.floor(Date.now() / 1000) - 3600, exp: Math.floor(Date.now() / 1000) - 60 });
      expectProblem(await me(token), 401);
    });

    it('401 for alg:none', async () => {
      const header = base64url({ alg: 'none', typ: 'JWT' });
      const payload = base64url({ ...claimsFor(userId), exp: Math.floor(Date.now() / 1000) + 60 });
      expectProblem(await me(`${header}.${payload}.`), 401);
    });

    it('401 when issuer or audience is not ours', async () => {
      const exp = Math.floor(Date.now() / 1000) + 60;
      expectProblem(await me(signAccess({ ...claimsFor(userId), iss: 'someone-else', exp })), 401);
      expectProblem(await me(signAccess({ ...claimsFor(userId), aud: 'another-api', exp })), 401);
    });
  });
});
