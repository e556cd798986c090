/**
 * ModelSource implementations: where the rollout controller gets a version's signed manifest and artifact URL.
 * - registryModelSource: an in-process ModelRegistry (one-process deployments, `edgeloop up`);
 * - httpModelSource: a registry server over HTTP (controller and registry in different processes).
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import type { ModelRegistry } from '../registry/model-registry.ts';
import type { ModelSource } from './rollout-controller.ts';
import type { DesiredTarget } from './rollout-state.ts';

export function registryModelSource(registry: ModelRegistry, artifactBaseUrl: string | (() => string)): ModelSource {
  return {
    async resolve(name: string, ref: string): Promise<DesiredTarget> {
      const r = registry.resolve(name, ref);
      const base = (typeof artifactBaseUrl === 'function' ? artifactBaseUrl() : artifactBaseUrl).replace(/\/+$/, '');
      return { version: r.version, artifactUrl: `${base}/v1/artifacts/${r.sha256}`, manifest: r.manifest };
    },
  };
}

export function httpModelSource(
  registryUrl: string,
  opts: { token?: string; fetch?: typeof globalThis.fetch } = {},
): ModelSource {
  const f = opts.fetch ?? globalThis.fetch;
  const base = registryUrl.replace(/\/+$/, '');
  return {
    async resolve(name: string, ref: string): Promise<DesiredTarget> {
      const url = `${base}/v1/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(ref)}`;
      let res: Response;
      try {
        res = await f(url, {
          headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
          signal: AbortSignal.timeout(10_000),
        });
      } catch (cause) {
        throw new EdgeloopError('EL_ERR_REGISTRY_HTTP', `registry ${base} unreachable: ${(cause as Error).message}`, {
          cause,
        });
      }
      const body = (await res.json().catch(() => ({}))) as {
        version?: string;
        artifactUrl?: string;
        manifest?: unknown;
        error?: { code: string; message: string };
      };
      if (!res.ok) {
        throw new EdgeloopError(
          body.error?.code ?? 'EL_ERR_REGISTRY_HTTP',
          `registry: ${body.error?.message ?? `HTTP ${res.status}`}`,
        );
      }
      if (!body.version || !body.artifactUrl || !body.manifest)
        throw new EdgeloopError(
          'EL_ERR_REGISTRY_HTTP',
          `registry answered an incomplete version record for ${name}@${ref}`,
        );
      return {
        version: body.version,
        artifactUrl: new URL(body.artifactUrl, base + '/').href,
        manifest: body.manifest,
      };
    },
  };
}
