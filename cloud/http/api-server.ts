/**
 * The lifecycle the JSON APIs with writes (registry, rollout controller) share: refuse an open listener before
 * anything opens (a non-loopback host without an apiToken, unless `insecure`: lib/listen-guard.ts), build the Fastify
 * app on first use (tests inject into it without listening), listen on start() and report the URL, close once.
 * A subclass supplies `build()`: its routes on the server base (server.ts).
 */
import type { FastifyInstance } from 'fastify';
import { assertSecureListener } from '../../lib/listen-guard.ts';
import type { Logger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { listeningUrl } from './json-api.ts';

export interface ApiListener {
  /** what the messages call the server ('registry', 'rollout controller') */
  what: string;
  host: string;
  port: number;
  apiToken?: string | undefined;
  insecure: boolean;
  logger: Logger;
}

export abstract class ApiServer {
  readonly #listener: ApiListener;
  #app: FastifyInstance | undefined;
  #url: string | undefined;
  #closed = false;

  protected constructor(listener: ApiListener) {
    this.#listener = listener;
    // refused before anything opens; start() repeats the check to log the insecure warning when it listens
    this.#exposure(undefined);
  }

  /** the routes, on createHttpServer's base */
  protected abstract build(): FastifyInstance;

  #exposure(logger: Logger | undefined): void {
    const { host, port, apiToken, insecure, what } = this.#listener;
    assertSecureListener({
      host,
      port,
      authConfigured: Boolean(apiToken),
      insecure,
      what,
      ...(logger ? { logger } : {}),
    });
  }

  /** the URL it listens on, undefined before start() and after close() */
  protected get listening(): string | undefined {
    return this.#url;
  }

  /** Base URL the server listens on (after start). */
  get url(): string {
    if (!this.#url) throw new EdgeloopError('EL_ERR_CLOSED', `${this.#listener.what} server is not started`);
    return this.#url;
  }

  /** The fastify instance (for inject() in tests, or to mount more routes before start). */
  get app(): FastifyInstance {
    this.#app ??= this.build();
    return this.#app;
  }

  async start(): Promise<void> {
    const { what, host, port, logger } = this.#listener;
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', `${what} server is closed`);
    if (this.#url) return;
    this.#exposure(logger);
    await this.app.listen({ host, port });
    this.#url = listeningUrl(this.app);
    logger.info({ url: this.#url }, `${what} listening`);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const app = this.#app;
    this.#app = undefined;
    this.#url = undefined;
    await app?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
