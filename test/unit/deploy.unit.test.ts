import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.js';

// No Docker engine here: the deployment files are checked as data, against the Compose
// Specification's own schema (vendored, see test/fixtures/README.md) and against each other.

const root = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
// Compose files use YAML merge keys (`<<: *api`).
const readYaml = (file: string) => parse(read(file), { merge: true }) as Record<string, unknown>;

type Service = {
  image?: string;
  build?: unknown;
  ports?: string[];
  environment?: Record<string, string> | string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: unknown;
};
type Compose = { services: Record<string, Service> };

const compose = readYaml('docker-compose.yml') as unknown as Compose;

const environmentOf = (service: Service): Record<string, string> =>
  Array.isArray(service.environment)
    ? Object.fromEntries(service.environment.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]))
    : { ...service.environment };

/** What Compose hands the container for `${NAME:-default}` when NAME is not set. */
const interpolateDefaults = (value: string) => value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

const validateCompose = () => {
  const schema = JSON.parse(read('test/fixtures/compose-spec.json')) as { $schema: string };
  const ajv = new Ajv({ strict: false, allErrors: true });
  // The spec names draft-07 by its https address; Ajv knows it by the http one.
  const draft07 = createRequire(import.meta.url)('ajv/dist/refs/json-schema-draft-07.json') as object;
  ajv.addMetaSchema({ ...draft07, $id: schema.$schema });
  return ajv.compile(schema);
};

const API_INSTANCES = ['api-1', 'api-2'] as const;

describe('docker-compose.yml', () => {
  it('is valid under the Compose Specification schema', () => {
    const validate = validateCompose();
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('is checked by a schema that does reject a malformed file', () => {
    const validate = validateCompose();
    expect(validate({ services: { api: { image: 'x', ports: 3000 } } })).toBe(false);
    expect(validate({ services: { api: { image: 'x', restart_policy: 'always' } } })).toBe(false);
  });

  it('runs EventStoreDB, PostgreSQL, Redis, two API instances, Prometheus, Grafana, an OpenTelemetry collector and Jaeger', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['api-1', 'api-2', 'eventstoredb', 'grafana', 'jaeger', 'otel-collector', 'postgres', 'prometheus', 'redis'].sort(),
    );
    expect(compose.services.eventstoredb!.image).toMatch(/^eventstore\/eventstore:/);
    expect(compose.services.postgres!.image).toBe('postgres:16');
    expect(compose.services.redis!.image).toBe('redis:7');
    expect(compose.services.jaeger!.image).toMatch(/^jaegertracing\/all-in-one:/);
    expect(environmentOf(compose.services.eventstoredb!).EVENTSTORE_INSECURE).toBe('true');
  });

  it('starts both API instances from the Dockerfile as one cluster on different host ports', () => {
    const [one, two] = API_INSTANCES.map((name) => compose.services[name]!);
    expect(one!.build).toBe('.');
    expect(two!.build).toBe('.');
    expect(one!.ports).toEqual(['3001:3000']);
    expect(two!.ports).toEqual(['3002:3000']);
    const [envOne, envTwo] = [environmentOf(one!), environmentOf(two!)];
    for (const key of ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET', 'EVENTSTORE_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT']) {
      expect(envOne[key], key).toBeTruthy();
      expect(envTwo[key], key).toBe(envOne[key]);
    }
    expect(envOne.EVENTSTORE_URL).toBe('esdb://eventstoredb:2113?tls=false');
    expect(envOne.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://otel-collector:4318');
  });

  it('gives the API instances a configuration TaskFlow accepts, pointing at the services it defines', () => {
    for (const name of API_INSTANCES) {
      const env = Object.fromEntries(Object.entries(environmentOf(compose.services[name]!)).map(([k, v]) => [k, interpolateDefaults(String(v))]));
      const config = loadConfig(env);
      expect(config.port).toBe(3000);
      expect(new URL(config.databaseUrl!).hostname).toBe('postgres');
      expect(new URL(config.redisUrl!).hostname).toBe('redis');
      expect(new URL(config.eventStoreUrl!).hostname).toBe('eventstoredb');
      expect(new URL(config.otelEndpoint!).hostname).toBe('otel-collector');
    }
  });

  it('waits for healthy dependencies and health-checks what it can', () => {
    for (const name of API_INSTANCES) {
      expect(compose.services[name]!.depends_on).toMatchObject({
        postgres: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
        eventstoredb: { condition: 'service_healthy' },
      });
    }
    for (const name of ['eventstoredb', 'postgres', 'redis', 'api-1', 'api-2', 'prometheus', 'grafana'])
      expect(compose.services[name]!.healthcheck, name).toBeDefined();
  });

  it('mounts only files that exist', () => {
    for (const service of Object.values(compose.services))
      for (const volume of service.volumes ?? [])
        if (volume.startsWith('./')) expect(existsSync(path.join(root, volume.split(':')[0]!)), volume).toBe(true);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');

  it('builds on Node 20, installs with npm ci and runs the server as an unprivileged user', () => {
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^EXPOSE 3000$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK [\s\S]*\/health\/live/m);
    expect(dockerfile).toMatch(/^CMD \["node", "--max-old-space-size=1024", "dist\/cli\/index.js", "serve"\]$/m);
  });

  it('compiles in a build stage and runs dist/ with production dependencies, as npm start runs it', () => {
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim AS build$/m);
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev\b/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    const { scripts } = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(cmd).toEqual(scripts.start!.split(' '));
    expect(scripts.prestart).toBe('npm run build');
  });
});

describe('monitoring configuration', () => {
  const prometheus = readYaml('deploy/prometheus/prometheus.yml') as {
    rule_files: string[];
    scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
  };
  const alerts = readYaml('deploy/prometheus/alerts.yml') as { groups: { name: string; rules: { alert: string; expr: string; for?: string }[] }[] };
  const dashboard = JSON.parse(read('deploy/grafana/dashboards/taskflow.json')) as {
    panels: { title: string; datasource: { uid: string }; targets: { expr: string }[] }[];
  };

  it('scrapes /metrics of both API instances and loads the alert rules', () => {
    const job = prometheus.scrape_configs.find((c) => c.job_name === 'taskflow-api')!;
    expect(job.metrics_path).toBe('/metrics');
    expect(job.static_configs.flatMap((c) => c.targets).sort()).toEqual(['api-1:3000', 'api-2:3000']);
    expect(prometheus.rule_files).toEqual(['/etc/prometheus/alerts.yml']);
    expect(compose.services.prometheus!.volumes).toContain('./deploy/prometheus:/etc/prometheus:ro');
  });

  it('alerts on projection lag, failed or incomplete projections, 5xx rate and p99 latency', () => {
    const rules = alerts.groups.flatMap((g) => g.rules);
    const exprs = rules.map((r) => r.expr).join('\n');
    for (const metric of ['taskflow_projection_lag_events', 'taskflow_projection_lag_seconds', 'http_request_duration_seconds_count', 'http_request_duration_seconds_bucket'])
      expect(exprs).toContain(metric);
    expect(exprs).toMatch(/status_code=~"5\.\."/);
    expect(exprs).toContain('histogram_quantile(0.99');
    for (const rule of rules) expect(rule.alert).toMatch(/^TaskFlow[A-Z]\w+$/);
    // A projection stopped on an event, and one whose counts disagree with the log, are named.
    const named = (alert: string) => rules.find((r) => r.alert === alert)?.expr ?? '';
    expect(named('TaskFlowProjectionFailed')).toContain('taskflow_projection_failed');
    expect(named('TaskFlowProjectionIncomplete')).toMatch(/taskflow_projection_missing_events[\s\S]*taskflow_projection_doubled_events/);
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
  });

  it('provisions Prometheus as the Grafana data source and the dashboard from deploy/grafana/dashboards', () => {
    const datasources = readYaml('deploy/grafana/provisioning/datasources/prometheus.yml') as { datasources: { uid: string; type: string; url: string }[] };
    expect(datasources.datasources).toEqual([expect.objectContaining({ uid: 'prometheus', type: 'prometheus', url: 'http://prometheus:9090' })]);
    const providers = readYaml('deploy/grafana/provisioning/dashboards/taskflow.yml') as { providers: { options: { path: string } }[] };
    expect(compose.services.grafana!.volumes).toContain(`./deploy/grafana/dashboards:${providers.providers[0]!.options.path}:ro`);
    for (const panel of dashboard.panels) expect(panel.datasource.uid, panel.title).toBe('prometheus');
  });

  it('charts every metric the service exports', () => {
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    for (const metric of [
      'http_request_duration_seconds_count',
      'http_request_duration_seconds_bucket',
      'taskflow_commands_total',
      'taskflow_event_append_duration_seconds_bucket',
      'taskflow_projection_lag_events',
      'taskflow_projection_lag_seconds',
      'taskflow_projection_failed',
      'taskflow_projection_missing_events',
      'taskflow_projection_doubled_events',
      'taskflow_projection_parked_events',
      'taskflow_cache_hits_total',
      'taskflow_cache_misses_total',
      'taskflow_queue_jobs',
      'taskflow_lock_held',
    ])
      expect(exprs).toContain(metric);
  });

  it('sends traces from the collector to Jaeger over OTLP', () => {
    const collector = readYaml('deploy/otel-collector/config.yaml') as {
      receivers: { otlp: { protocols: Record<string, unknown> } };
      exporters: Record<string, { endpoint: string }>;
      service: { pipelines: { traces: { receivers: string[]; exporters: string[] } } };
    };
    expect(Object.keys(collector.receivers.otlp.protocols).sort()).toEqual(['grpc', 'http']);
    expect(collector.service.pipelines.traces.receivers).toEqual(['otlp']);
    const [exporter] = collector.service.pipelines.traces.exporters;
    expect(collector.exporters[exporter!]!.endpoint).toBe('jaeger:4317');
  });
});
