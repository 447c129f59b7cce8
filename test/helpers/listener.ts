import net from 'node:net';

/** A TCP listener that only counts connections: the target of the network-escape tests. */
export function countingServer(host = '127.0.0.1'): Promise<{ port: number; count: () => number; close: () => void }> {
  let n = 0;
  const srv = net.createServer((c) => {
    n++;
    c.destroy();
  });
  return new Promise((resolve) =>
    srv.listen(0, host, () =>
      resolve({ port: (srv.address() as net.AddressInfo).port, count: () => n, close: () => srv.close() }),
    ),
  );
}
