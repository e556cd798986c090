import { createServer, connect, type Socket, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { describe, expect, it, onTestFinished } from 'vitest';
import { TcpProxy } from '../../../simulator/net/tcp-proxy.ts';

async function echoServer(): Promise<number> {
  const sockets = new Set<Socket>();
  const s = createServer((c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
    c.pipe(c);
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  onTestFinished(async () => {
    for (const c of sockets) c.destroy();
    await new Promise<void>((r) => s.close(() => r()));
  });
  return (s.address() as AddressInfo).port;
}

async function proxyTo(
  port: number,
  extra: Partial<ConstructorParameters<typeof TcpProxy>[0]> = {},
): Promise<TcpProxy> {
  const p = new TcpProxy({ target: { host: '127.0.0.1', port }, ...extra });
  await p.start();
  onTestFinished(() => p.close());
  return p;
}

function client(port: number): Promise<Socket> {
  const c = connect({ host: '127.0.0.1', port });
  c.on('error', () => {});
  onTestFinished(() => void c.destroy());
  return once(c, 'connect').then(() => c);
}

/** resolves on 'close' (events.once would reject on the 'error' a reset emits first) */
function closed(c: Socket): Promise<void> {
  return new Promise((r) => c.once('close', () => r()));
}

async function roundTrip(c: Socket, text: string): Promise<string> {
  c.write(text);
  let got = '';
  while (got.length < text.length) got += String((await once(c, 'data'))[0]);
  return got;
}

describe('TcpProxy', () => {
  it('forwards both ways and resets connections on drop()', async () => {
    const proxy = await proxyTo(await echoServer());
    const c = await client(proxy.port);
    expect(await roundTrip(c, 'hello')).toBe('hello');
    const done = closed(c);
    expect(proxy.drop()).toBe(1);
    await done;
    const c2 = await client(proxy.port);
    expect(await roundTrip(c2, 'again')).toBe('again');
  });

  it('block() refuses new connections until heal()', async () => {
    const proxy = await proxyTo(await echoServer());
    proxy.block();
    const c = connect({ host: '127.0.0.1', port: proxy.port });
    c.on('error', () => {});
    await closed(c);
    expect(proxy.stats.refusedBlocked).toBe(1);
    proxy.heal();
    expect(await roundTrip(await client(proxy.port), 'ok')).toBe('ok');
  });

  it('blackhole() holds bytes without closing, heal() delivers them intact', async () => {
    const proxy = await proxyTo(await echoServer());
    const c = await client(proxy.port);
    proxy.blackhole();
    let got = '';
    c.on('data', (b) => (got += String(b)));
    c.write('held');
    await new Promise((r) => setTimeout(r, 100)); // a window in which nothing may arrive
    expect(got).toBe('');
    expect(c.destroyed).toBe(false);
    proxy.heal();
    while (got.length < 4) await once(c, 'data');
    expect(got).toBe('held');
  });

  it('rate-limits new connections (token bucket)', async () => {
    const proxy = await proxyTo(await echoServer(), { maxConnectsPerSec: 3 });
    const results = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const c = connect({ host: '127.0.0.1', port: proxy.port });
        c.on('error', () => {});
        onTestFinished(() => void c.destroy());
        const gone = closed(c).then(() => 'refused');
        c.once('connect', () => c.write('x'));
        return Promise.race([new Promise<string>((r) => c.once('data', () => r('ok'))), gone]);
      }),
    );
    expect(results.filter((r) => r === 'ok').length).toBe(3);
    expect(proxy.stats.refusedRateLimited).toBe(5);
  });

  it('validates its options', () => {
    expect(() => new TcpProxy({ target: { host: 'h', port: 0 } })).toThrow(/target.port/);
    expect(() => new TcpProxy({ target: { host: 'h', port: 1 }, maxConnectsPerSec: 0 })).toThrow(/maxConnectsPerSec/);
  });
});
