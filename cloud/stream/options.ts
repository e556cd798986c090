/**
 * Option checks shared by the stream, feature-store and processor components: unknown (misspelled) options throw
 * with a hint, numbers are range-checked, and every error names the component and the option.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import { NodeHttpHandler } from '@smithy/node-http-handler';

function distance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

export function invalidOption(component: string, name: string, expected: string, got: unknown): EdgeloopError {
  const shown =
    got === undefined ? 'nothing' : typeof got === 'function' ? 'a function' : JSON.stringify(got)?.slice(0, 60);
  return new EdgeloopError(
    'EL_ERR_CONFIG_INVALID',
    `${component}: option "${name}" must be ${expected}, got ${shown}`,
    {
      details: { component, option: name },
    },
  );
}

/** Throw on options not in `allowed`, suggesting the closest known name. */
export function checkKnownOptions(component: string, opts: object | undefined, allowed: readonly string[]): void {
  if (opts === undefined) return;
  if (typeof opts !== 'object' || opts === null) throw invalidOption(component, 'options', 'an object', opts);
  for (const key of Object.keys(opts)) {
    if (allowed.includes(key)) continue;
    let best: string | undefined;
    let bestD = Infinity;
    for (const a of allowed) {
      const dist = distance(key.toLowerCase(), a.toLowerCase());
      if (dist < bestD) {
        bestD = dist;
        best = a;
      }
    }
    const hint =
      best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean "${best}"?)` : '';
    throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `${component}: unknown option "${key}"${hint}`, {
      details: { component, option: key },
    });
  }
}

export function intOption(
  component: string,
  name: string,
  value: unknown,
  def: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return def;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(
      component,
      name,
      `an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? '∞' : max}]`,
      value,
    );
  }
  return value;
}

export function numberOption(
  component: string,
  name: string,
  value: unknown,
  def: number,
  min: number,
  max = Infinity,
): number {
  if (value === undefined) return def;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max) {
    throw invalidOption(component, name, `a number in [${min}, ${max}]`, value);
  }
  return value;
}

export function oneOfOption<T extends string>(
  component: string,
  name: string,
  value: unknown,
  def: T,
  allowed: readonly T[],
): T {
  if (value === undefined) return def;
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw invalidOption(component, name, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, value);
  }
  return value as T;
}

export function stringOption(component: string, name: string, value: unknown, def: string): string {
  if (value === undefined) return def;
  if (typeof value !== 'string' || value.length === 0)
    throw invalidOption(component, name, 'a non-empty string', value);
  return value;
}

/**
 * An AWS SDK v3 client config from an adapter's options: the `region` / `endpoint` shorthands over `clientConfig`,
 * and an HTTP/1.1 handler for a plain-HTTP endpoint (kinesalite, LocalStack, a local test server), where the SDK's
 * default HTTP/2 handler fails.
 */
export function awsClientConfig<T extends { region?: unknown; endpoint?: unknown; requestHandler?: unknown }>(
  component: string,
  opts: { region?: string | undefined; endpoint?: string | undefined; clientConfig?: T | undefined },
): T {
  const config = {
    ...(opts.region !== undefined ? { region: stringOption(component, 'region', opts.region, '') } : {}),
    ...(opts.endpoint !== undefined ? { endpoint: stringOption(component, 'endpoint', opts.endpoint, '') } : {}),
    ...opts.clientConfig,
  } as T;
  const ep = config.endpoint;
  if (typeof ep === 'string' && ep.startsWith('http://') && config.requestHandler === undefined) {
    config.requestHandler = new NodeHttpHandler();
  }
  return config;
}
