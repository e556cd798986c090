/**
 * A TCP proxy in front of the broker for network fault injection. Devices of one group connect through one proxy;
 * the proxy can then:
 *   drop()       reset every open connection now (a NAT timeout, a flapping link); new connections pass
 *   block()      reset open connections and refuse new ones until heal() (a hard partition: host unreachable)
 *   blackhole()  keep connections open but stop moving bytes both ways until heal() (a silent partition: TCP
 *                buffers, the client only notices through keep-alive); heal() resumes the streams intact
 *   heal()       back to normal
 * and limits the connection rate (token bucket, `maxConnectsPerSec`): connections over the rate are reset at
 * once, like AWS IoT Core's per-account connect throttle, which is what a connect storm runs into.
 */
import { createServer, connect as netConnect, type Server, type Socket, type AddressInfo } from 'node:net';
import { EdgeloopError } from '../../protocol/errors.ts';

export interface TcpProxyOptions {
  target: { host: string; port: number };
  /** listen address (default 127.0.0.1) and port (default 0 = any free port) */
  host?: string;
  port?: number;
  /** new connections per second allowed (default Infinity); burst = the same number */
  maxConnectsPerSec?: number;
  name?: string;
}

export type ProxyState = 'pass' | 'blocked' | 'blackholed';

export interface TcpProxyStats {
  accepted: number;
  refusedBlocked: number;
  refusedRateLimited: number;
  active: number;
  dropped: number;
  bytesUp: number;
  bytesDown: number;
}

export class TcpProxy {
  readonly name: string;
  readonly #o: TcpProxyOptions;
  #server: Server | undefined;
  #port = 0;
  #state: ProxyState = 'pass';
  readonly #pairs = new Set<{ client: Socket; upstream: Socket }>();
  #tokens: number;
  #tokensAt = Date.now();
  #rate: number;
  #burst: number;
  readonly stats: TcpProxyStats = {
    accepted: 0,
    refusedBlocked: 0,
    refusedRateLimited: 0,
    active: 0,
    dropped: 0,
    bytesUp: 0,
    bytesDown: 0,
  };

  constructor(opts: TcpProxyOptions) {
    if (!opts.target || !Number.isInteger(opts.target.port) || opts.target.port <= 0) {
      throw new EdgeloopError('EL_ERR_SIM_OPTIONS', 'TcpProxy: target.port must be a positive integer');
    }
    if (opts.maxConnectsPerSec !== undefined && !(opts.maxConnectsPerSec > 0)) {
      throw new EdgeloopError(
        'EL_ERR_SIM_OPTIONS',
        `TcpProxy: maxConnectsPerSec must be > 0, got ${opts.maxConnectsPerSec}`,
      );
    }
    this.#o = opts;
    this.name = opts.name ?? 'proxy';
    this.#rate = opts.maxConnectsPerSec ?? Infinity;
    this.#burst = this.#rate;
    this.#tokens = this.#rate;
  }

  get port(): number {
    return this.#port;
  }
  get host(): string {
    return this.#o.host ?? '127.0.0.1';
  }
  get url(): string {
    return `mqtt://${this.host}:${this.#port}`;
  }
  get state(): ProxyState {
    return this.#state;
  }

  async start(): Promise<void> {
    if (this.#server) return;
    const server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(new EdgeloopError('EL_ERR_SIM_PROXY', `${this.name}: cannot listen: ${err.message}`, { cause: err })),
      );
      server.listen(this.#o.port ?? 0, this.host, () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
  }

  /** Change the connection-rate limit (Infinity = none); `burst` connections may come at once (default perSec). */
  setRateLimit(perSec: number, burst = perSec): void {
    this.#rate = perSec;
    this.#burst = Math.max(1, burst);
    this.#tokens = Math.min(this.#tokens, this.#burst);
    this.#tokensAt = Date.now();
  }

  #takeToken(): boolean {
    if (this.#rate === Infinity) return true;
    const now = Date.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#tokensAt) / 1000) * this.#rate);
    this.#tokensAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #accept(client: Socket): void {
    client.on('error', () => {});
    if (this.#state === 'blocked') {
      this.stats.refusedBlocked++;
      client.resetAndDestroy();
      return;
    }
    if (!this.#takeToken()) {
      this.stats.refusedRateLimited++;
      client.resetAndDestroy();
      return;
    }
    this.stats.accepted++;
    const upstream = netConnect({ host: this.#o.target.host, port: this.#o.target.port, noDelay: true });
    upstream.on('error', () => {});
    client.setNoDelay(true);
    const pair = { client, upstream };
    this.#pairs.add(pair);
    this.stats.active = this.#pairs.size;
    if (this.#state === 'blackholed') {
      client.pause();
      upstream.pause();
    }
    client.on('data', (b: Buffer) => {
      this.stats.bytesUp += b.length;
      if (!upstream.write(b)) client.pause();
    });
    upstream.on('data', (b: Buffer) => {
      this.stats.bytesDown += b.length;
      if (!client.write(b)) upstream.pause();
    });
    upstream.on('drain', () => this.#state !== 'blackholed' && client.resume());
    client.on('drain', () => this.#state !== 'blackholed' && upstream.resume());
    const done = (): void => {
      if (!this.#pairs.delete(pair)) return;
      this.stats.active = this.#pairs.size;
      client.destroy();
      upstream.destroy();
    };
    client.on('close', done);
    upstream.on('close', done);
  }

  /** Reset every open connection now. */
  drop(): number {
    const n = this.#pairs.size;
    for (const p of [...this.#pairs]) {
      p.client.resetAndDestroy();
      p.upstream.destroy();
    }
    this.stats.dropped += n;
    return n;
  }

  block(): void {
    this.#state = 'blocked';
    this.drop();
  }

  blackhole(): void {
    this.#state = 'blackholed';
    for (const p of this.#pairs) {
      p.client.pause();
      p.upstream.pause();
    }
  }

  heal(): void {
    const was = this.#state;
    this.#state = 'pass';
    if (was === 'blackholed') {
      for (const p of this.#pairs) {
        p.client.resume();
        p.upstream.resume();
      }
    }
  }

  async close(): Promise<void> {
    const s = this.#server;
    if (!s) return;
    this.#server = undefined;
    this.drop();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
