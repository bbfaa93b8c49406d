import http from 'node:http';
import autocannon from 'autocannon';
import { percentile } from './database.js';

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

const headersOf = (options: Pick<LoadOptions, 'body' | 'headers'>) => ({ ...(options.body ? { 'content-type': 'application/json' } : {}), ...options.headers });

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
            headers: headersOf(options),
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

export type OpenLoopOptions = Pick<LoadOptions, 'url' | 'seconds' | 'connections' | 'method' | 'headers' | 'body' | 'onResponse'> &
  Readonly<{
    /** Requests per second, sent at evenly spaced times whatever the answers do. A request that
     * finds all `connections` keep-alive sockets busy waits for one, and that wait counts. */
    rate: number;
  }>;

/**
 * A fixed request rate, open loop: request i is due at start + i / rate and is sent then, even
 * when earlier ones have not been answered; its latency runs from when it was due, so a stall
 * counts for every request it delays (no coordinated omission). autocannon's own rate limit
 * lets each connection send its quota for the second back to back and then wait: that measures
 * bursts at full speed, not a steady fraction of the peak.
 */
export const openLoop = (options: OpenLoopOptions): Promise<LoadResult> =>
  new Promise((resolve) => {
    const url = new URL(options.url);
    const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
    const total = Math.max(1, Math.round(options.rate * options.seconds));
    const latencies: number[] = [];
    let sent = 0;
    let done = 0;
    let errors = 0;
    let non2xx = 0;
    const started = performance.now();
    const finish = () => {
      if (++done < total) return;
      agent.destroy();
      latencies.sort((a, b) => a - b);
      const elapsed = (performance.now() - started) / 1000;
      resolve({ rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), requests: done, errors, non2xx });
    };
    const send = (due: number) => {
      const req = http.request(
        url,
        { method: options.method ?? 'GET', agent, headers: headersOf(options) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            latencies.push(performance.now() - due);
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) non2xx++;
            options.onResponse?.(status, Buffer.concat(chunks).toString());
            finish();
          });
        },
      );
      req.on('error', () => {
        errors++;
        finish();
      });
      req.end(options.body);
    };
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * options.rate) + 1);
      for (; sent < due; sent++) send(started + (sent * 1000) / options.rate);
      if (sent >= total) clearInterval(timer);
    }, 1);
  });
