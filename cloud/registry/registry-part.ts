/**
 * createRegistryPart(config): the registry as a cloud part `{ name: 'registry', start(), close(), health() }` for
 * cloud/create-cloud.ts (or `edgeloop registry serve`). Opens the SQLite metadata and the local artifact store,
 * reads the trusted public keys, and serves the HTTP API. Closes in reverse order: HTTP server, then database.
 */
import { join } from 'node:path';
import { z } from 'zod';
import type { Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { parseOptions } from '../../lib/options.ts';
import { DEFAULT_DATA_DIRS } from '../../lib/data-dirs.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { TrustedKeyRing } from '../../models/manifest/index.ts';
import { LocalArtifactStore, type ArtifactStore } from './artifact-store.ts';
import { ModelRegistry, ModelRegistryOptionsSchema } from './model-registry.ts';
import { RegistryServer, RegistryServerOptionsSchema } from './registry-server.ts';

/** the server's fields, with their defaults, as the part's config states them */
const server = RegistryServerOptionsSchema.shape;

export const RegistryPartConfigSchema = z.strictObject({
  /** state directory: registry.db and artifacts/ go here unless set one by one */
  dataDir: z.string().min(1).default(DEFAULT_DATA_DIRS.registry),
  dbPath: z.string().min(1).optional(),
  artifactsDir: z.string().min(1).optional(),
  /**
   * ed25519 public keys whose signatures the registry accepts: PEM files, or directories whose `*.pub` files are
   * read again when a push names an unknown key
   */
  trustedKeys: z.array(z.string().min(1)).default([]),
  /** refuse unsigned manifests (ModelRegistry's option and default) */
  requireSignature: ModelRegistryOptionsSchema.shape.requireSignature,
  host: server.host,
  port: server.port,
  /** base URL devices download artifacts from (default: the listen address) */
  publicUrl: z.string().url().optional(),
  apiToken: server.apiToken,
  insecure: server.insecure,
  allowLocalPaths: server.allowLocalPaths,
  bodyLimit: server.bodyLimit,
});
export type RegistryPartConfig = z.output<typeof RegistryPartConfigSchema>;
export type RegistryPartConfigInput = z.input<typeof RegistryPartConfigSchema>;

export interface RegistryPart {
  readonly name: 'registry';
  readonly instance: { registry: ModelRegistry; server: RegistryServer };
  start(): Promise<void>;
  close(): Promise<void>;
  health(): { ok: boolean; url?: string; models: number };
}

export function parseRegistryPartConfig(input: unknown, source = 'registry config'): RegistryPartConfig {
  return parseOptions(RegistryPartConfigSchema, input ?? {}, { where: source, root: '(root)' });
}

export function createRegistryPart(
  config: RegistryPartConfigInput,
  deps: { logger?: Logger; clock?: Clock; store?: ArtifactStore } = {},
): RegistryPart {
  const c = parseRegistryPartConfig(config);
  let keys: TrustedKeyRing;
  try {
    keys = new TrustedKeyRing(c.trustedKeys);
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `registry.trustedKeys: ${(cause as Error).message}`, { cause });
  }
  const logger = (deps.logger ?? silentLogger).child({ part: 'registry' });
  const registry = new ModelRegistry({
    dbPath: c.dbPath ?? join(c.dataDir, 'registry.db'),
    store: deps.store ?? new LocalArtifactStore({ dir: c.artifactsDir ?? join(c.dataDir, 'artifacts') }),
    trustedKeys: keys,
    requireSignature: c.requireSignature,
    logger,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  const server = new RegistryServer({
    registry,
    host: c.host,
    port: c.port,
    allowLocalPaths: c.allowLocalPaths,
    insecure: c.insecure,
    bodyLimit: c.bodyLimit,
    logger,
    ...(c.publicUrl ? { publicUrl: c.publicUrl } : {}),
    ...(c.apiToken ? { apiToken: c.apiToken } : {}),
  });
  let started = false;
  return {
    name: 'registry',
    instance: { registry, server },
    async start() {
      registry.start();
      await server.start();
      started = true;
    },
    async close() {
      await server.close();
      registry.close();
    },
    health() {
      if (!started) return { ok: false, models: 0 };
      try {
        return { ok: true, url: server.url, models: registry.list().length };
      } catch {
        return { ok: false, models: 0 };
      }
    },
  };
}
