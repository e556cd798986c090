/**
 * Config loading for every process kind: a YAML file, then EDGELOOP_* environment overrides, validated by the
 * component's zod schema (lib/options.ts: an unknown key gets a "did you mean"). Errors name the field and the file:
 *   agent.yaml: outbox.maxBytes: expected number, received string
 *   cloud.yaml: broker: Unrecognized key: "prot" (did you mean "broker.port"?)
 *
 * Environment overrides: EDGELOOP_<PATH> where PATH is the field path upper-cased with `__` between levels,
 * e.g. EDGELOOP_MQTT__URL=mqtt://host:1883 sets mqtt.url, EDGELOOP_OUTBOX__MAX_BYTES=1e8 sets outbox.maxBytes.
 * Values are parsed as YAML scalars (numbers, booleans, null), or as JSON for arrays/objects.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { EdgeloopError } from '../protocol/errors.ts';
import { fromZodIssue } from '../lib/cli-errors.ts';
import { issuePath } from '../protocol/zod-issues.ts';
import { optionIssues } from '../lib/options.ts';

export interface LoadConfigOptions {
  /** path of the YAML file; undefined = defaults + env only */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** only env vars with this prefix are considered, e.g. 'EDGELOOP_' */
  envPrefix?: string;
  /** values applied over the file and env (CLI flags) */
  overrides?: Record<string, unknown>;
  /** which flag each override came from ({ command: 'agent', names: { logLevel: '--log-level' } }): a bad value
   * there is a usage error naming the flag (lib/cli-errors.ts), not a config error */
  flags?: { command: string; names: Record<string, string> };
}

const NOT_CONFIG = new Set([
  'LOG_LEVEL',
  'LOG_FORMAT',
  'DEBUG',
  'CONFIG',
  'NODE_FLAGS',
  'FROM_SOURCE',
  'REGISTRY_URL',
  'REGISTRY_TOKEN',
  'ROLLOUT_URL',
  'ROLLOUT_TOKEN',
  'CMAPSS_TRAIN',
  'AI4I_CSV',
]);

export function loadConfig<S extends z.ZodType>(schema: S, opts: LoadConfigOptions = {}): z.infer<S> {
  const source = opts.file ?? '(defaults)';
  let raw: unknown = {};
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (cause) {
      throw new EdgeloopError(
        'EL_ERR_CONFIG_INVALID',
        `${opts.file}: cannot read config file (${(cause as Error).message})`,
        { cause },
      );
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (cause) {
      throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `${opts.file}: not valid YAML: ${(cause as Error).message}`, {
        cause,
      });
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `${opts.file}: the top level must be a mapping`);
    }
  }
  const merged = structuredClone(raw) as Record<string, unknown>;
  const prefix = opts.envPrefix ?? 'EDGELOOP_';
  const envSources: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (!k.startsWith(prefix) || v === undefined) continue;
    const rest = k.slice(prefix.length);
    // process-level variables and the CLI's own endpoints, not config fields (bin/edgeloop.js, bin/edgeloop-agent,
    // the registry and rollout commands' defaults, the models build's data paths)
    if (NOT_CONFIG.has(rest)) continue;
    const path = rest.split('__').map(camel);
    setPath(merged, path, parseScalar(v));
    envSources[path.join('.')] = k;
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) {
    if (v !== undefined) setPath(merged, k.split('.'), v);
  }
  const r = schema.safeParse(merged);
  if (!r.success) {
    for (const issue of r.error.issues) {
      const path = issuePath(issue);
      const flag = opts.flags?.names[path];
      if (flag) throw fromZodIssue(opts.flags!.command, flag, opts.overrides?.[path], issue);
    }
    const first = optionIssues(schema, r.error.issues, {
      note: (path) => (envSources[path] ? ` (from ${envSources[path]})` : ''),
    });
    throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `${source}: ${first.join('; ')}`, {
      details: { file: opts.file, issues: first },
    });
  }
  return Object.freeze(r.data) as z.infer<S>;
}

function camel(s: string): string {
  return s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function parseScalar(v: string): unknown {
  const t = v.trim();
  if (t.startsWith('[') || t.startsWith('{')) {
    try {
      return JSON.parse(t);
    } catch {
      return v;
    }
  }
  try {
    const y = parseYaml(t);
    return y === null && t !== 'null' && t !== '~' ? v : y;
  } catch {
    return v;
  }
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let o = obj;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i]!;
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[path[path.length - 1]!] = value;
}
