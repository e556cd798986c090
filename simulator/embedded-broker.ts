/**
 * A plain aedes broker on loopback that the simulator starts when it is given no broker URL (and that the
 * broker-restart fault can stop and start again on the same port, keeping sessions: like a broker process
 * restarting with persistent state). For the full pipeline use `edgeloop up` or createCloud.
 * It has no authentication, so a non-loopback host needs `insecure: true` (lib/listen-guard.ts).
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { assertSecureListener } from '../lib/listen-guard.ts';
import type { Logger } from '../lib/logger.ts';

export interface BrokerControl {
  /** stop accepting and drop every client */
  stop(): Promise<void>;
  /** listen again on the same address */
  restart(): Promise<void>;
}

export class EmbeddedBroker implements BrokerControl {
  readonly #host: string;
  #port: number;
  #aedes: Aedes | undefined;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  readonly #insecure: boolean;
  readonly #logger: Logger | undefined;

  /** `insecure`: allow a non-loopback host (anyone on that network may connect); default false */
  constructor(opts: { host?: string; port?: number; insecure?: boolean; logger?: Logger } = {}) {
    this.#host = opts.host ?? '127.0.0.1';
    this.#port = opts.port ?? 0;
    this.#insecure = opts.insecure ?? false;
    this.#logger = opts.logger;
  }

  get url(): string {
    return `mqtt://${this.#host}:${this.#port}`;
  }
  get port(): number {
    return this.#port;
  }
  get host(): string {
    return this.#host;
  }

  async start(): Promise<void> {
    if (this.#aedes) return;
    assertSecureListener({
      host: this.#host,
      port: this.#port,
      authConfigured: false,
      insecure: this.#insecure,
      what: 'the simulator MQTT broker (no authentication)',
      ...(this.#logger ? { logger: this.#logger } : {}),
    });
    this.#aedes = await Aedes.createBroker();
    await this.#listen();
  }

  async #listen(): Promise<void> {
    const aedes = this.#aedes!;
    const server = createServer((s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
      aedes.handle(s);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, this.#host, () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    for (const sock of this.#sockets) sock.destroy();
    this.#sockets.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  async restart(): Promise<void> {
    if (!this.#aedes || this.#server) return;
    await this.#listen();
  }

  async close(): Promise<void> {
    await this.stop();
    const a = this.#aedes;
    this.#aedes = undefined;
    if (a) await new Promise<void>((r) => a.close(() => r()));
  }
}
