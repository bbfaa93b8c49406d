import { context, propagation, ROOT_CONTEXT, SpanStatusCode, trace, type Attributes, type Link, type Span, type SpanKind } from '@opentelemetry/api';

// Spans go through the OpenTelemetry API, which is a no-op until an SDK is registered: with no
// OTEL_EXPORTER_OTLP_ENDPOINT nothing is started and tracing costs next to nothing.

export const tracer = () => trace.getTracer('taskflow');

/** Starts the OpenTelemetry SDK exporting over OTLP/HTTP; returns its shutdown. */
export const startTracing = async (endpoint: string | null, serviceName = 'taskflow'): Promise<() => Promise<void>> => {
  if (!endpoint) return async () => {};
  const [{ NodeSDK }, { OTLPTraceExporter }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
  ]);
  const sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME ?? serviceName,
    traceExporter: new OTLPTraceExporter({ url: `${endpoint.replace(/\/$/, '')}/v1/traces` }),
    instrumentations: [],
  });
  sdk.start();
  return () => sdk.shutdown();
};

/** Runs `fn` in a new active span, recording an error and ending the span whatever happens. */
export const inSpan = <T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; links?: Link[] },
  fn: (span: Span) => Promise<T>,
): Promise<T> =>
  tracer().startActiveSpan(name, options, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  });

/** The active trace context as a W3C traceparent, to store in event metadata or job data. */
export const currentTraceparent = (): string | undefined => {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
};

/** Links from a span to the traces whose context was stored with the events it handles. */
export const linksTo = (traceparents: readonly (string | undefined)[], max = 64): Link[] => {
  const links: Link[] = [];
  for (const traceparent of new Set(traceparents)) {
    if (!traceparent || links.length >= max) continue;
    const spanContext = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, { traceparent }));
    if (spanContext) links.push({ context: spanContext });
  }
  return links;
};
