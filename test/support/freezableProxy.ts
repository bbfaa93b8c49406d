import net from 'node:net';

export type FreezableProxy = Readonly<{
  url: string;
  /** From now on nothing passes either way: connections stay open, as with a server that hangs. */
  freeze: () => void;
  /** What was held back passes, and traffic flows again. */
  thaw: () => void;
  close: () => Promise<void>;
}>;

/**
 * A TCP proxy in front of a PostgreSQL URL that can make it hang without touching the server
 * (which other tests share): frozen, it accepts connections and data but forwards nothing.
 */
export const startFreezableProxy = async (targetUrl: string): Promise<FreezableProxy> => {
  const target = new URL(targetUrl);
  let frozen = false;
  const held: (() => void)[] = [];
  const sockets = new Set<net.Socket>();

  const forward = (from: net.Socket, to: net.Socket) => {
    from.on('data', (chunk) => (frozen ? held.push(() => to.write(chunk)) : to.write(chunk)));
    from.on('close', () => to.destroy());
    from.on('error', () => to.destroy());
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  // An embedded PostgreSQL's URL names its Unix socket: clients of the proxy must come over TCP.
  url.searchParams.delete('host');
  url.port = String((server.address() as net.AddressInfo).port);

  return {
    url: url.toString(),
    freeze: () => {
      frozen = true;
    },
    thaw: () => {
      frozen = false;
      held.splice(0).forEach((send) => send());
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
};
