import type { Router } from 'express';
import swaggerUi from 'swagger-ui-express';
import { openApiDocument } from '../openapi.js';

export const docsRoutes = () => (router: Router) => {
  router.get('/api/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  router.use('/api', swaggerUi.serveFiles(undefined, { swaggerOptions: { url: '/api/openapi.json' } }));
  router.get('/api', swaggerUi.setup(undefined, { customSiteTitle: 'TaskFlow API', swaggerOptions: { url: '/api/openapi.json' } }));
};
