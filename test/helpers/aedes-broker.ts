/**
 * A real aedes broker on a free loopback port, for tests that need "a broker" and not the edgeloop embedded
 * broker's authentication (cloud/broker/ has that). Close it with `await broker.close()`.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Aedes } from 'aedes';

export interface TestBroker {
  url: string;
  port: number;
  aedes: Aedes;
  /** Stop accepting and drop every client (a broker outage); `restart()` listens again on the same port. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestBroker(port = 0): Promise<TestBroker> {
  const aedes = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = async (p: number): Promise<number> => {
    server = createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      aedes.handle(s);
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(p, '127.0.0.1', () => resolve());
    });
    return (server.address() as AddressInfo).port;
  };
  const stopServer = async (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    sockets.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  };
  const actual = await listen(port);
  return {
    url: `mqtt://127.0.0.1:${actual}`,
    port: actual,
    aedes,
    stop: stopServer,
    restart: async () => {
      await listen(actual);
    },
    close: async () => {
      await stopServer();
      await new Promise<void>((r) => aedes.close(() => r()));
    },
  };
}
