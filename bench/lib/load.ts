import autocannon from 'autocannon';

export type LoadResult = Readonly<{
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  non2xx: number;
}>;

export type LoadOptions = Readonly<{
  url: string;
  seconds: number;
  connections: number;
  method?: 'GET' | 'POST' | 'PATCH';
  headers?: Record<string, string>;
  body?: string;
  /** Fixed total rate (requests/s) instead of as fast as possible. */
  rate?: number;
  /** Varies each request (path, body). */
  setupRequest?: (request: { path: string; method?: string; body?: string }) => { path: string; method?: string; body?: string };
  onResponse?: (status: number, body: string) => void;
}>;

/** One autocannon run; latencies in milliseconds. */
export const load = (options: LoadOptions): Promise<LoadResult> =>
  new Promise((resolve, reject) => {
    const url = new URL(options.url);
    autocannon(
      {
        url: url.origin,
        duration: options.seconds,
        connections: options.connections,
        ...(options.rate ? { overallRate: options.rate } : {}),
        requests: [
          {
            method: options.method ?? 'GET',
            path: url.pathname + url.search,
            headers: { ...(options.body ? { 'content-type': 'application/json' } : {}), ...options.headers },
            ...(options.body ? { body: options.body } : {}),
            ...(options.setupRequest ? { setupRequest: options.setupRequest as never } : {}),
            ...(options.onResponse ? { onResponse: options.onResponse as never } : {}),
          },
        ],
      },
      (error, result) => {
        if (error) return reject(error);
        resolve({
          rps: result.requests.average,
          p50: result.latency.p50,
          p99: result.latency.p99,
          requests: result.requests.total,
          errors: result.errors + result.timeouts,
          non2xx: result.non2xx,
        });
      },
    );
  });
