/**
 * RegistryServer: the registry's HTTP API (fastify) and the artifact download endpoint agents use.
 *
 *   GET  /healthz
 *   GET  /v1/models                                  list of models with version count, latest, aliases
 *   POST /v1/models                                  push: JSON { manifest, artifact: base64 } or { manifest, path }
 *   GET  /v1/models/:name                            versions (newest first) and aliases
 *   GET  /v1/models/:name/versions/:ref              one version (ref = version, alias or "latest") + artifactUrl
 *   GET  /v1/models/:name/aliases                    aliases and their history
 *   GET  /v1/models/:name/aliases/:alias             the version an alias points at
 *   PUT  /v1/models/:name/aliases/:alias             { version } moves the alias
 *   GET|HEAD /v1/artifacts/:sha256                   the ONNX file; Range → 206 / 416, ETag = "sha256", immutable
 *
 * Errors answer the one body of cloud/http/server.ts (`{ error: { code, message, requestId } }`) with
 * 400/401/404/409/413/416/422. Writes need `Authorization: Bearer <apiToken>`
 * when an apiToken is configured; reads (and artifact downloads by devices) do not. Without an apiToken the server
 * listens on loopback only, unless `insecure: true` (lib/listen-guard.ts).
 */
import { z } from 'zod';
import { dependency, optionsParser } from '../../lib/options.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { bearerAuth } from '../http/json-api.ts';
import { ApiServer } from '../http/api-server.ts';
import { createHttpServer, type HttpStatusByCode, sendError } from '../http/server.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { ModelRegistry, ModelVersionRecord } from './model-registry.ts';

/** The RegistryServer's options and their defaults (docs/registry.md lists them). */
export const RegistryServerOptionsSchema = z.strictObject({
  registry: dependency<ModelRegistry>('a ModelRegistry'),
  /** listen address */
  host: z.string().min(1).default('127.0.0.1'),
  /** listen port (0 = any free port) */
  port: z.number().int().min(0).max(65535).default(8081),
  /** base URL devices use to download artifacts (default http://<host>:<port> after listen) */
  publicUrl: z
    .string()
    .optional()
    .transform((u) => u?.replace(/\/+$/, '')),
  /** bearer token required for POST/PUT; undefined = no auth, allowed on loopback hosts only (see insecure) */
  apiToken: z.string().min(1).optional(),
  /** start without an apiToken on a non-loopback host (writes open to the network; logged as a warning) */
  insecure: z.boolean().default(false),
  /** maximum request body, bytes (256 MiB: a base64 push is 4/3 of the model size) */
  bodyLimit: z
    .number()
    .int()
    .min(1024)
    .default(256 * 1024 * 1024),
  /** accept `{ manifest, path }` pushes that name a file on the server's disk */
  allowLocalPaths: z.boolean().default(false),
  logger: dependency<Logger>('a Logger').default(silentLogger),
});
export type RegistryServerOptions = z.input<typeof RegistryServerOptionsSchema>;

const resolveRegistryServerOptions = optionsParser(RegistryServerOptionsSchema, {
  where: 'RegistryServer',
  code: 'EL_ERR_INVALID_ARGUMENT',
});

const STATUS: HttpStatusByCode = {
  EL_ERR_REGISTRY_NOT_FOUND: 404,
  EL_ERR_REGISTRY_CONFLICT: 409,
  EL_ERR_REGISTRY_UNTRUSTED: 422,
  EL_ERR_REGISTRY_BAD_PUSH: 400,
  EL_ERR_INVALID_ARGUMENT: 400,
  EL_ERR_MODEL_MANIFEST_INVALID: 400,
  EL_ERR_REGISTRY_RANGE: 416,
};

/** Parse a single `bytes=` range against a size. undefined = ignore the header (serve 200); 'unsatisfiable' = 416. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined; // multiple ranges or other units: RFC 9110 lets a server ignore Range
  const [, a, b] = m;
  if (a === '' && b === '') return undefined;
  let start: number;
  let end: number;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== '' && Number(b) < start) return undefined; // invalid range spec: ignore
  }
  if (start >= size || size === 0) return 'unsatisfiable';
  return { start, end };
}

export class RegistryServer extends ApiServer {
  readonly #opts: Readonly<z.output<typeof RegistryServerOptionsSchema>>;
  constructor(opts: RegistryServerOptions) {
    const o = resolveRegistryServerOptions(opts);
    super({ what: 'registry', ...o });
    this.#opts = Object.freeze(o);
  }

  /** URL devices download an artifact from. */
  artifactUrl(sha256: string): string {
    return `${this.#opts.publicUrl ?? this.url}/v1/artifacts/${sha256}`;
  }

  protected build(): FastifyInstance {
    const reg = this.#opts.registry;
    const app = createHttpServer({
      name: 'registry',
      logger: this.#opts.logger,
      limits: { bodyLimit: this.#opts.bodyLimit },
      statusByCode: STATUS,
      requestErrorCode: 'EL_ERR_REGISTRY_HTTP',
    });
    const describe = (r: ModelVersionRecord, withManifest: boolean): Record<string, unknown> => ({
      ...describeVersion(r, withManifest),
      // the evaluation status (retraining's champion/challenger: candidate or rejected), when there is one
      ...statusOf(r),
    });
    const statusOf = (r: ModelVersionRecord): Record<string, unknown> => {
      const st = reg.status(r.name, r.version);
      return st ? { status: { status: st.status, reason: st.reason, at: st.at, details: st.details } } : {};
    };
    const describeVersion = (r: ModelVersionRecord, withManifest: boolean): Record<string, unknown> => ({
      name: r.name,
      version: r.version,
      sha256: r.sha256,
      bytes: r.bytes,
      keyId: r.keyId,
      parentVersion: r.parentVersion,
      dataHash: r.dataHash,
      createdAt: r.createdAt,
      pushedAt: r.pushedAt,
      metrics: r.metrics,
      ...(withManifest ? { training: r.training, manifest: r.manifest } : {}),
      artifactUrl: this.listening || this.#opts.publicUrl ? this.artifactUrl(r.sha256) : `/v1/artifacts/${r.sha256}`,
    });
    const auth = bearerAuth(this.#opts.apiToken, 'EL_ERR_REGISTRY_HTTP');

    app.get('/healthz', async () => ({ ok: true }));
    app.get('/v1/models', async () => ({ models: reg.list() }));
    app.post('/v1/models', { preHandler: auth }, async (req, reply) => {
      const body = req.body as
        | { manifest?: unknown; artifact?: unknown; path?: unknown; parentVersion?: unknown; dataHash?: unknown }
        | undefined;
      if (!body || typeof body !== 'object')
        throw new EdgeloopError(
          'EL_ERR_REGISTRY_BAD_PUSH',
          'push: expected a JSON body { manifest, artifact (base64) | path }',
        );
      let artifact: Uint8Array | { path: string };
      if (typeof body.artifact === 'string') {
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body.artifact))
          throw new EdgeloopError('EL_ERR_REGISTRY_BAD_PUSH', 'push: "artifact" is not base64');
        artifact = Buffer.from(body.artifact, 'base64');
      } else if (typeof body.path === 'string') {
        if (!this.#opts.allowLocalPaths)
          throw new EdgeloopError(
            'EL_ERR_REGISTRY_BAD_PUSH',
            'push: "path" pushes are disabled on this server (allowLocalPaths: false); send the artifact as base64',
          );
        artifact = { path: body.path };
      } else throw new EdgeloopError('EL_ERR_REGISTRY_BAD_PUSH', 'push: "artifact" (base64) or "path" is required');
      const r = await reg.push({
        manifest: body.manifest,
        artifact,
        ...(typeof body.parentVersion === 'string' ? { parentVersion: body.parentVersion } : {}),
        ...(typeof body.dataHash === 'string' ? { dataHash: body.dataHash } : {}),
      });
      return reply.code(r.created ? 201 : 200).send({ created: r.created, version: describe(r.record, false) });
    });
    app.get('/v1/models/:name', async (req) => {
      const { name } = req.params as { name: string };
      const versions = reg.versions(name);
      if (!versions.length)
        throw new EdgeloopError('EL_ERR_REGISTRY_NOT_FOUND', `model ${JSON.stringify(name)} is not in the registry`);
      return { name, versions: versions.map((v) => describe(v, false)), aliases: reg.aliases(name) };
    });
    app.get('/v1/models/:name/versions/:ref', async (req) => {
      const { name, ref } = req.params as { name: string; ref: string };
      return describe(reg.resolve(name, ref), true);
    });
    app.get('/v1/models/:name/aliases', async (req) => {
      const { name } = req.params as { name: string };
      return { name, aliases: reg.aliases(name), history: reg.aliasHistory(name) };
    });
    app.get('/v1/models/:name/aliases/:alias', async (req) => {
      const { name, alias } = req.params as { name: string; alias: string };
      const a = reg.getAlias(name, alias);
      if (!a) throw new EdgeloopError('EL_ERR_REGISTRY_NOT_FOUND', `${name} has no alias "${alias}"`);
      return a;
    });
    app.put('/v1/models/:name/aliases/:alias', { preHandler: auth }, async (req) => {
      const { name, alias } = req.params as { name: string; alias: string };
      const body = req.body as { version?: unknown } | undefined;
      if (!body || typeof body.version !== 'string')
        throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'alias: expected a JSON body { "version": "..." }');
      return reg.setAlias(name, alias, body.version);
    });

    const serveArtifact = async (req: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
      const { sha256 } = req.params as { sha256: string };
      if (!/^[0-9a-f]{64}$/.test(sha256))
        throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `artifact id ${JSON.stringify(sha256)} is not a sha256`);
      const info = await reg.store.stat(sha256);
      if (!info) throw new EdgeloopError('EL_ERR_REGISTRY_NOT_FOUND', `no artifact ${sha256}`);
      const etag = `"${sha256}"`;
      void reply
        .header('etag', etag)
        .header('accept-ranges', 'bytes')
        .header('cache-control', 'public, max-age=31536000, immutable');
      if (req.headers['if-none-match'] === etag) return reply.code(304).send();
      const ifRange = req.headers['if-range'];
      const range = ifRange && ifRange !== etag ? undefined : parseRange(req.headers.range, info.bytes);
      if (range === 'unsatisfiable') {
        void reply.header('content-range', `bytes */${info.bytes}`);
        return sendError(
          req,
          reply,
          416,
          'EL_ERR_REGISTRY_RANGE',
          `range ${req.headers.range} is outside the ${info.bytes}-byte artifact`,
        );
      }
      void reply.type('application/octet-stream');
      if (range) {
        void reply
          .code(206)
          .header('content-range', `bytes ${range.start}-${range.end}/${info.bytes}`)
          .header('content-length', range.end - range.start + 1);
        if (req.method === 'HEAD') return reply.send();
        return reply.send(reg.store.createReadStream(sha256, range));
      }
      void reply.header('content-length', info.bytes);
      if (req.method === 'HEAD') return reply.send();
      return reply.send(reg.store.createReadStream(sha256));
    };
    app.route({
      method: ['GET', 'HEAD'],
      url: '/v1/artifacts/:sha256',
      exposeHeadRoute: false,
      handler: serveArtifact,
    });
    return app;
  }
}
