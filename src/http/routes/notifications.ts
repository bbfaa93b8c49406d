import type { Router } from 'express';
import Joi from 'joi';
import type { Knex } from 'knex';
import { listNotifications } from '../../queries/notifications.js';
import { actorOf } from '../context.js';
import { pagination, validate } from '../validation.js';

export const notificationRoutes = (deps: { knex: Knex }) => (router: Router) => {
  router.get('/notifications', async (req, res) => {
    const page = validate(Joi.object(pagination), req.query, 'query') as { page: number; limit: number };
    res.json(await listNotifications(deps.knex, actorOf(res).userId, page));
  });
};
