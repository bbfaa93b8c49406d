// Baseline servers: the same JSON answer from bare node:http or bare express, on PORT.
import http from 'node:http';

const body = JSON.stringify({ hello: 'world' });
const port = Number(process.env.PORT ?? 0);

const ready = (server) => server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));

if (process.argv[2] === 'express') {
  const { default: express } = await import('express');
  const app = express();
  app.get('/', (_req, res) => res.json({ hello: 'world' }));
  ready(http.createServer(app));
} else {
  ready(http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }));
}
