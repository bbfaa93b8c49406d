import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Upstream = Readonly<{ name: string; port: number }>;
export type Proxy = Readonly<{ url: string; close: () => Promise<void> }>;

/** The header the proxy adds to each answer: which instance served it. */
export const UPSTREAM_HEADER = 'x-upstream';

const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding'] as const;

const readBody = (req: http.IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

const badGateway = (res: http.ServerResponse, code: string, detail: string, upstream?: string) => {
  if (res.headersSent) return void res.destroy();
  res.writeHead(502, { 'content-type': 'application/problem+json', ...(upstream ? { [UPSTREAM_HEADER]: upstream } : {}) });
  res.end(JSON.stringify({ type: 'about:blank', title: 'Bad Gateway', status: 502, code, detail }));
};

/** One attempt on one instance; 'refused' means nothing reached it, so another may take the request. */
const forward = (req: http.IncomingMessage, body: Buffer, target: Upstream, res: http.ServerResponse) =>
  new Promise<'answered' | 'refused'>((resolve) => {
    const upstream = http.request(
      // No keep-alive to the instances (as nginx by default): a stopped instance refuses new
      // connections instead of resetting a reused one.
      { host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${target.port}` }, agent: false },
      (answer) => {
        const headers: http.OutgoingHttpHeaders = { ...answer.headers, [UPSTREAM_HEADER]: target.name };
        for (const name of HOP_BY_HOP) delete headers[name];
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
        answer.on('error', () => res.destroy());
        answer.on('aborted', () => res.destroy());
        resolve('answered');
      },
    );
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') return resolve('refused');
      badGateway(res, 'UPSTREAM_FAILED', `${target.name}: ${error.code ?? error.message}`, target.name);
      resolve('answered');
    });
    upstream.end(body);
  });

/**
 * A reverse proxy over the API instances, round robin per client (the Authorization header): a
 * client's consecutive requests alternate between instances. An instance that refuses the
 * connection is skipped; one that fails after taking the request yields a 502 problem+json.
 */
export const startProxy = async (upstreams: () => readonly Upstream[]): Promise<Proxy> => {
  const turns = new Map<string, number>();
  const server = http.createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const targets = upstreams();
      const client = req.headers.authorization ?? '';
      const turn = turns.get(client) ?? 0;
      turns.set(client, turn + 1);
      for (let i = 0; i < targets.length; i++)
        if ((await forward(req, body, targets[(turn + i) % targets.length]!, res)) === 'answered') return;
      badGateway(res, 'NO_UPSTREAM', 'every instance refused the connection');
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};
