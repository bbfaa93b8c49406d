import type { Response, Router } from 'express';
import Joi from 'joi';
import type { UserCommands } from '../../commands/users.js';
import { UnauthorizedError } from '../../domain/errors.js';
import type { EventStore } from '../../infra/eventstore/eventStore.js';
import { findAccount, verifyCredentials, type Account } from '../../queries/credentials.js';
import type { Consistency } from '../consistency.js';
import type { TokenService } from '../tokens.js';
import { validate } from '../validation.js';
import type { RateLimits } from '../rateLimits.js';

export type AuthRouteDeps = Readonly<{
  limits: Pick<RateLimits, 'auth' | 'loginFailures'>;
  eventStore: EventStore;
  users: UserCommands;
  tokens: TokenService;
  consistency: Consistency;
  now: () => Date;
}>;

export const PASSWORD_MIN = 8;

const email = Joi.string().trim().lowercase().email({ tlds: false, allowUnicode: false }).max(254);
const registerSchema = Joi.object({
  email: email.required(),
  name: Joi.string().trim().min(1).max(100).required(),
  password: Joi.string().min(PASSWORD_MIN).max(200).required(),
});
const loginSchema = Joi.object({ email: Joi.string().trim().max(254).required(), password: Joi.string().max(200).required() });
const refreshSchema = Joi.object({ refresh_token: Joi.string().max(200).required() });

export const publicUser = ({ user, role }: Account) => ({
  id: user.id,
  email: user.email,
  name: user.name,
  role,
  createdAt: user.createdAt,
  updatedAt: user.updatedAt,
});

export const authRoutes = (deps: AuthRouteDeps) => (router: Router) => {
  const { eventStore, users, tokens, consistency, now, limits } = deps;
  router.use('/auth', limits.auth);

  const signedIn = async (res: Response, status: number, account: Account) => {
    res.locals.actor = { kind: 'user', userId: account.user.id, role: account.role };
    const pair = await tokens.issueForLogin({ id: account.user.id, email: account.user.email, role: account.role });
    res.status(status).json({ ...pair, user: publicUser(account) });
  };

  router.post('/auth/register', async (req, res) => {
    const input = validate(registerSchema, req.body, 'registration');
    const result = await users.register(input, { now: now().toISOString(), correlationId: res.locals.correlationId });
    if (result.state.kind !== 'registered') throw new Error('registration produced no user');
    const user = result.state.user;
    res.locals.actor = { kind: 'user', userId: user.id, role: 'user' };
    await consistency.answered(res, result);
    await signedIn(res, 201, { user, role: 'user' });
  });

  router.post('/auth/login', limits.loginFailures, async (req, res) => {
    const { email: address, password } = validate(loginSchema, req.body, 'credentials');
    const account = await verifyCredentials(eventStore, address, password);
    if (!account) throw new UnauthorizedError('Invalid email or password', 'INVALID_CREDENTIALS');
    await signedIn(res, 200, account);
  });

  router.post('/auth/refresh', async (req, res) => {
    const { refresh_token } = validate(refreshSchema, req.body, 'refresh request');
    let current: Account | null = null;
    const pair = await tokens.refresh(refresh_token, async (userId) => {
      current = await findAccount(eventStore, userId);
      return current && { id: current.user.id, email: current.user.email, role: current.role };
    });
    res.json({ ...pair, user: publicUser(current!) });
  });

  router.post('/auth/logout', async (req, res) => {
    const { refresh_token } = validate(refreshSchema, req.body, 'logout request');
    await tokens.logout(refresh_token);
    res.status(204).end();
  });
};
