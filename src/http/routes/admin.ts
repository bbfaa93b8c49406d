import type { Router } from 'express';
import Joi from 'joi';
import type { Knex } from 'knex';
import type { EventStore } from '../../infra/eventstore/eventStore.js';
import { READ_MODELS } from '../../operations/projections.js';
import { projectionStatus } from '../../operations/status.js';
import { verifiedClean, verifyReadModels } from '../../operations/verify.js';
import { requireAdmin } from '../context.js';
import { noQuery, validate } from '../validation.js';

export type AdminRouteDeps = Readonly<{ knex: Knex; eventStore: EventStore }>;

const verifyQuery = Joi.object({ projection: Joi.string().valid(...READ_MODELS.map((m) => m.name)) });

/** The operator tooling of the CLI, over HTTP for admins: projection status and read-model verification. */
export const adminRoutes = (deps: AdminRouteDeps) => (router: Router) => {

  router.get('/admin/projections', async (req, res) => {
    requireAdmin(res);
    validate(noQuery, req.query, 'query');
    res.json({ data: await projectionStatus(deps) });
  });

  router.get('/admin/audit/verify', async (req, res) => {
    requireAdmin(res);
    const { projection } = validate(verifyQuery, req.query, 'query') as { projection?: string };
    const reports = await verifyReadModels(deps, projection ? { projection } : {});
    res.json({ ok: reports.every(verifiedClean), data: reports });
  });
};
