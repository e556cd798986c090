/** A loopback port for tests that must name one before something listens on it (a broker started later). */
import { type AddressInfo, createServer } from 'node:net';

/** a port that was free on 127.0.0.1 a moment ago */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
