/**
 * `edgeloop registry`: talks to a registry server over HTTP (--url, EDGELOOP_REGISTRY_URL, default
 * http://127.0.0.1:8081), or runs one (`serve`).
 */
import { serveUntilSignal } from '../stop-on-signal.ts';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';
import { numberFlag, parseFlags, usageError } from '../../lib/cli-errors.ts';
import { DEFAULT_DATA_DIRS } from '../../lib/data-dirs.ts';
import type { CliContext } from '../../lib/cli-context.ts';
import { jsonClient } from '../json-http-client.ts';

export const help = `usage: edgeloop registry <command> [options]

commands:
  push DIR                      push a model directory (manifest.json + ONNX file); the server verifies its
                                sha256 and signature against its trusted keys
  list                          models, version counts, latest version, aliases
  show NAME[@VERSION|@ALIAS]    one version (default: latest): metrics, lineage, training summary, artifact URL
                                (--manifest prints the whole manifest)
  alias NAME ALIAS [VERSION]    show an alias, or point it at VERSION (history is kept)
  serve                         run a registry server (--data-dir, --port, --host, --trusted-key FILE|DIR...,
                                --public-url, --token, --allow-local-paths, --insecure: without --token
                                a non-loopback --host is refused unless --insecure is given)

options:
  --url URL       registry server (default $EDGELOOP_REGISTRY_URL or http://127.0.0.1:8081)
  --token TOKEN   bearer token for push and alias (default $EDGELOOP_REGISTRY_TOKEN)
  --json          print JSON
`;

interface Http {
  get(path: string): Promise<unknown>;
  send(method: 'POST' | 'PUT', path: string, body: unknown): Promise<unknown>;
}

function client(url: string, token: string | undefined): Http {
  const call = jsonClient({
    url,
    token,
    what: 'the registry',
    serveHint: 'edgeloop registry serve',
    errorCode: 'EL_ERR_REGISTRY_HTTP',
  });
  return { get: (p) => call('GET', p), send: (m, p, b) => call(m, p, b) };
}

const enc = encodeURIComponent;

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseFlags('registry', argv, {
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      json: { type: 'boolean', default: false },
      manifest: { type: 'boolean', default: false },
      'data-dir': { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'trusted-key': { type: 'string', multiple: true },
      'public-url': { type: 'string' },
      'allow-local-paths': { type: 'boolean', default: false },
      insecure: { type: 'boolean', default: false },
    },
  });
  const [cmd, ...args] = positionals;
  const out = (s: string): void => void ctx.stdout.write(s + '\n');
  const url = values.url ?? ctx.env.EDGELOOP_REGISTRY_URL ?? 'http://127.0.0.1:8081';
  const token = values.token ?? ctx.env.EDGELOOP_REGISTRY_TOKEN;
  const http = client(url, token);
  const need = (n: number, usage: string): void => {
    if (args.length < n) throw usageError(`registry ${cmd}`, 'missing argument', `edgeloop registry ${usage}`);
  };
  switch (cmd) {
    case 'push': {
      need(1, 'push DIR');
      const dir = resolve(ctx.cwd, args[0]!);
      let manifest: { artifact?: { file?: string }; name?: string; version?: string };
      try {
        manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
      } catch (cause) {
        throw new EdgeloopError(
          'EL_ERR_INVALID_ARGUMENT',
          `${dir}: cannot read manifest.json: ${(cause as Error).message}`,
          { cause },
        );
      }
      const file = manifest.artifact?.file;
      if (typeof file !== 'string')
        throw new EdgeloopError('EL_ERR_MODEL_MANIFEST_INVALID', `${dir}/manifest.json has no artifact.file`);
      const bytes = readFileSync(join(dir, file));
      const r = (await http.send('POST', '/v1/models', { manifest, artifact: bytes.toString('base64') })) as {
        created: boolean;
        version: { name: string; version: string; sha256: string };
      };
      if (values.json) out(JSON.stringify(r));
      else
        out(
          `${r.created ? 'pushed' : 'already there:'} ${r.version.name}@${r.version.version} (sha256 ${r.version.sha256.slice(0, 12)}…)`,
        );
      return 0;
    }
    case 'list': {
      const r = (await http.get('/v1/models')) as {
        models: Array<{ name: string; versions: number; latest: string; aliases: Record<string, string> }>;
      };
      if (values.json) out(JSON.stringify(r.models));
      else if (r.models.length === 0) out('no models');
      else {
        out(['NAME', 'VERSIONS', 'LATEST', 'ALIASES'].join('\t'));
        for (const m of r.models)
          out(
            [
              m.name,
              m.versions,
              m.latest,
              Object.entries(m.aliases)
                .map(([a, v]) => `${a}=${v}`)
                .join(' ') || '-',
            ].join('\t'),
          );
      }
      return 0;
    }
    case 'show': {
      need(1, 'show NAME[@VERSION]');
      const [name, ref = 'latest'] = args[0]!.split('@') as [string, string | undefined];
      const r = (await http.get(`/v1/models/${enc(name)}/versions/${enc(ref)}`)) as Record<string, unknown> & {
        manifest: Record<string, unknown>;
        training: Record<string, unknown>;
      };
      if (values.json || values.manifest) {
        out(JSON.stringify(values.manifest ? r.manifest : r, null, 2));
        return 0;
      }
      const aliases = (await http.get(`/v1/models/${enc(name)}/aliases`)) as {
        aliases: Array<{ alias: string; version: string }>;
      };
      const here = aliases.aliases.filter((a) => a.version === r.version).map((a) => a.alias);
      out(`${r.name}@${r.version}${here.length ? `  (${here.join(', ')})` : ''}`);
      out(`  sha256      ${r.sha256}  (${r.bytes} bytes)`);
      out(`  signed by   ${r.keyId ?? 'unsigned'}`);
      out(`  created     ${r.createdAt}; pushed ${new Date(r.pushedAt as number).toISOString()}`);
      out(`  lineage     parent ${r.parentVersion ?? '-'}, data ${r.dataHash ?? '-'}`);
      out(`  metrics     ${JSON.stringify(r.metrics)}`);
      const features = (r.training as { features?: Record<string, unknown> }).features;
      if (features)
        out(`  training    ${Object.keys(features).length} feature distributions: ${Object.keys(features).join(', ')}`);
      out(`  threshold   ${r.manifest.threshold}; kind ${r.manifest.kind}`);
      out(`  artifact    ${r.artifactUrl}`);
      return 0;
    }
    case 'alias': {
      need(2, 'alias NAME ALIAS [VERSION]');
      const [name, alias, version] = args as [string, string, string | undefined];
      if (version === undefined) {
        const r = (await http.get(`/v1/models/${enc(name)}/aliases/${enc(alias)}`)) as { version: string };
        out(values.json ? JSON.stringify(r) : `${name} ${alias} → ${r.version}`);
        return 0;
      }
      const r = (await http.send('PUT', `/v1/models/${enc(name)}/aliases/${enc(alias)}`, { version })) as {
        previous?: string;
        version: string;
      };
      out(
        values.json ? JSON.stringify(r) : `${name} ${alias} → ${r.version}${r.previous ? ` (was ${r.previous})` : ''}`,
      );
      return 0;
    }
    case 'serve': {
      const { createRegistryPart } = await import('../../cloud/registry/registry-part.ts');
      const { createCliLogger } = await import('../../lib/logger.ts');
      const logger = createCliLogger(ctx.env.EDGELOOP_LOG_LEVEL ?? 'info');
      const port = numberFlag('registry serve', '--port', values.port, { min: 0, max: 65535, integer: true });
      const part = createRegistryPart(
        {
          dataDir: resolve(ctx.cwd, values['data-dir'] ?? DEFAULT_DATA_DIRS.registry),
          trustedKeys: (values['trusted-key'] ?? []).map((f) => resolve(ctx.cwd, f)),
          allowLocalPaths: values['allow-local-paths'],
          insecure: values.insecure,
          ...(port !== undefined ? { port } : {}),
          ...(values.host ? { host: values.host } : {}),
          ...(values['public-url'] ? { publicUrl: values['public-url'] } : {}),
          ...(token ? { apiToken: token } : {}),
        },
        { logger },
      );
      return serveUntilSignal(
        logger,
        part,
        () => out(`registry listening on ${part.instance.server.url}`),
        'the registry did not close',
      );
    }
    default:
      throw usageError(
        'registry',
        cmd ? `unknown subcommand ${JSON.stringify(cmd)}` : 'missing subcommand',
        'push, list, show, alias or serve; see edgeloop registry --help',
      );
  }
}
