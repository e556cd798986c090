/**
 * What the parts of the cloud's model-serving HTTP services (recommend, maintenance) share: the public keys their
 * model directories are verified against, and the handle of a service with its own Fastify server on its own port.
 * The handle starts the service, then listens; it closes the server first (no request reaches a closed service),
 * then the service, then whatever the part opened beside it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { PartHealth } from '../../lib/parts.ts';
import { EdgeloopError } from '../../protocol/errors.ts';

/**
 * The PEM public keys of `<section>.trustedKeyFiles` (relative to `cwd`), or of `defaultKey` when the section names
 * none; a file that cannot be read is a config error naming the option and the file.
 */
export function readTrustedKeys(
  section: string,
  files: readonly string[] | undefined,
  cwd: string,
  defaultKey: string,
): string[] {
  const keyFiles = files?.map((f) => resolve(cwd, f)) ?? [defaultKey];
  return keyFiles.map((f) => {
    try {
      return readFileSync(f, 'utf8');
    } catch (cause) {
      throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `${section}.trustedKeyFiles: cannot read ${f}`, { cause });
    }
  });
}

export interface HttpServicePart<N extends string, S> {
  readonly name: N;
  readonly instance: S;
  readonly app: FastifyInstance;
  /** http://host:port once listening (a wildcard host is reported as 127.0.0.1) */
  readonly url: string | undefined;
  start(): Promise<void>;
  close(): Promise<void>;
  health(): PartHealth;
}

export interface HttpServicePartOptions<N extends string, S> {
  name: N;
  service: S;
  app: FastifyInstance;
  host: string;
  /** 0 = any free port */
  port: number;
  /** closed after the service (a store the service writes to) */
  afterClose?: () => Promise<void> | void;
  /** the part's health; `url` is undefined until the server listens */
  health: (url: string | undefined) => PartHealth;
}

/** The part handle of `service` served by `app` on host:port. */
export function httpServicePart<N extends string, S extends { start(): Promise<void>; close(): Promise<void> }>(
  o: HttpServicePartOptions<N, S>,
): HttpServicePart<N, S> {
  let url: string | undefined;
  return {
    name: o.name,
    instance: o.service,
    app: o.app,
    get url() {
      return url;
    },
    async start() {
      await o.service.start();
      await o.app.listen({ host: o.host, port: o.port });
      const addr = o.app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : o.port;
      url = `http://${o.host === '0.0.0.0' ? '127.0.0.1' : o.host}:${port}`;
    },
    async close() {
      await o.app.close();
      await o.service.close();
      await o.afterClose?.();
    },
    health: () => o.health(url),
  };
}
