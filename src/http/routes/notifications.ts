import type { Router } from 'express';
import Joi from 'joi';
import type { Knex } from 'knex';
import { listNotifications } from '../../queries/notifications.js';
import type { ReadYourWrites } from '../../queries/readYourWrites.js';
import { actorOf } from '../context.js';
import { pagination, validate } from '../validation.js';

export const notificationRoutes = (deps: { knex: Knex; readYourWrites: ReadYourWrites }) => (router: Router) => {
  router.get('/notifications', async (req, res) => {
    const page = validate(Joi.object(pagination), req.query, 'query') as { page: number; limit: number };
    const { userId } = actorOf(res);
    await deps.readYourWrites.awaitOwnWrites(userId, ['notifications']);
    res.json(await listNotifications(deps.knex, userId, page));
  });
};
