import net from 'node:net';

export interface TcpProxy {
  port: number;
  url: string;
  /** Resets every open connection; returns how many sockets it cut. */
  dropAll(): number;
  /**
   * The server is down: the port stops listening (new connections get ECONNREFUSED) and every open
   * connection is reset, until `restore`.
   */
  refuse(): Promise<void>;
  /**
   * The path to the server drops every packet (a firewall, a partition): connections are accepted
   * and nothing ever comes back, on new and open ones alike, until `restore`.
   */
  blackhole(): void;
  /** Listens again on the same port, and forwards again. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A TCP relay in front of a real server that can cut every open connection on command, or refuse
 * connections for a while: the network failures a daemon meets when a domain controller restarts
 * or a firewall drops idle links.
 */
export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let silent = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    const pair = [client, upstream];
    for (const s of pair) {
      sockets.add(s);
      s.on('error', () => pair.forEach((p) => p.destroy()));
      s.on('close', () => {
        sockets.delete(s);
        pair.forEach((p) => p.destroy());
      });
    }
    // Not pipe(): a blackhole must swallow what is already on its way.
    client.on('data', (chunk: Buffer) => void (silent || upstream.write(chunk)));
    upstream.on('data', (chunk: Buffer) => void (silent || client.write(chunk)));
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const dropAll = () => {
    const n = sockets.size;
    for (const s of sockets) s.resetAndDestroy();
    return n;
  };
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `ldap://127.0.0.1:${port}`,
    dropAll,
    async refuse() {
      // close() stops listening at once; its callback waits for open connections, cut here.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      dropAll();
      await closed;
    },
    blackhole() {
      silent = true;
    },
    async restore() {
      silent = false;
      if (!server.listening) await listen(port);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        if (!server.listening) return resolve();
        server.close(() => resolve());
      }),
  };
}
