import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { RequestHandler, Router } from 'express';
import type { Metrics } from '../infra/metrics.js';
import { tracer } from '../infra/tracing.js';

/** The route template (`/tasks/:id`), never the raw path, so labels stay few. */
const routeOf = (req: Parameters<RequestHandler>[0]) => (req.route?.path ? `${req.baseUrl}${req.route.path}` : 'unmatched');

/**
 * One server span per request (continuing an incoming `traceparent`) made active for the whole
 * request, and the request duration histogram by route template and status.
 */
export const observeRequests =
  (metrics: Metrics): RequestHandler =>
  (req, res, next) => {
    const parent = propagation.extract(context.active(), req.headers);
    const span = tracer().startSpan(`HTTP ${req.method}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'url.path': req.path } }, parent);
    const endTimer = metrics.httpDuration.startTimer();
    res.on('finish', () => {
      const route = routeOf(req);
      endTimer({ method: req.method, route, status_code: String(res.statusCode) });
      span.updateName(`${req.method} ${route}`);
      span.setAttributes({ 'http.route': route, 'http.response.status_code': res.statusCode, 'taskflow.correlation_id': res.locals.correlationId });
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(parent, span), next);
  };

export const metricsRoutes = (metrics: Metrics) => (router: Router) => {
  router.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
};
