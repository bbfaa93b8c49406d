import type { Request, Response, Router } from 'express';
import Joi from 'joi';
import type { Knex } from 'knex';
import type { UserCommands } from '../../commands/users.js';
import { ROLES } from '../../domain/actor.js';
import { NotFoundError } from '../../domain/errors.js';
import type { Consistency } from '../consistency.js';
import { findAccount } from '../../queries/credentials.js';
import { getUser, listUsers } from '../../queries/users.js';
import type { EventStore } from '../../infra/eventstore/eventStore.js';
import { actorOf, commandOptions, requireAdmin } from '../context.js';
import { publicUser } from './auth.js';
import { idParam, pagination, validate } from '../validation.js';

export type UserRouteDeps = Readonly<{ knex: Knex; eventStore: EventStore; users: UserCommands; consistency: Consistency; now: () => Date }>;

const PROJECTIONS = ['users'] as const;

export const userRoutes = (deps: UserRouteDeps) => (router: Router) => {
  const { knex, eventStore, users, consistency, now } = deps;

  const awaitOwnWrites = async (req: Request, res: Response) => {
    const atLeast = await consistency.required(req, res);
    if (atLeast) await consistency.awaitProjected(PROJECTIONS, atLeast);
  };

  router.get('/users/me', async (req, res) => {
    await awaitOwnWrites(req, res);
    const user = await getUser(knex, actorOf(res).userId);
    if (user) return res.json(user);
    // A signed-in user always exists: if the read model has not caught up yet (e.g. seeded at
    // start-up a moment ago), answer from the log.
    const account = await findAccount(eventStore, actorOf(res).userId);
    if (!account) throw new NotFoundError('User not found', 'USER_NOT_FOUND');
    res.json(publicUser(account));
  });

  router.get('/users', async (req, res) => {
    requireAdmin(res);
    const page = validate(Joi.object(pagination), req.query, 'query') as { page: number; limit: number };
    await awaitOwnWrites(req, res);
    res.json(await listUsers(knex, page));
  });

  router.patch('/users/:id', async (req, res) => {
    requireAdmin(res);
    const id = idParam(req.params);
    const { role } = validate(Joi.object({ role: Joi.string().valid(...ROLES).required() }), req.body, 'role change');
    const result = await users.changeRole(id, role, commandOptions(res, now));
    await consistency.answered(res, result);
    const account = await findAccount(eventStore, id);
    if (!account) throw new NotFoundError('User not found', 'USER_NOT_FOUND');
    res.json(publicUser(account));
  });
};
