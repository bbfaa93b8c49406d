import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Every metric TaskFlow exposes at /metrics, on a registry of its own (no global state). */
export const createMetrics = () => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route template and status',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    commands: new Counter({
      name: 'taskflow_commands_total',
      help: 'Commands handled, by type and outcome (accepted, unchanged, rejected, conflict, error)',
      labelNames: ['type', 'outcome'] as const,
      registers,
    }),
    appendDuration: new Histogram({
      name: 'taskflow_event_append_duration_seconds',
      help: 'Time to append to the event log',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    cacheHits: new Counter({ name: 'taskflow_cache_hits_total', help: 'Query cache hits', registers }),
    cacheMisses: new Counter({ name: 'taskflow_cache_misses_total', help: 'Query cache misses', registers }),
    projectedEvents: new Counter({
      name: 'taskflow_projection_events_total',
      help: 'Events read by each projection runner in this instance',
      labelNames: ['projection'] as const,
      registers,
    }),
    /** Gauges whose values are read when Prometheus scrapes. */
    gauge: (name: string, help: string, labelNames: readonly string[], collect: (g: Gauge) => Promise<void> | void) =>
      new Gauge({
        name,
        help,
        labelNames: [...labelNames],
        registers,
        async collect() {
          this.reset();
          await collect(this);
        },
      }),
  };
};
export type Metrics = ReturnType<typeof createMetrics>;
