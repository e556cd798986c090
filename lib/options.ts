/**
 * One options mechanism for every component, used by constructors, config files (cli/load-config.ts) and CLI
 * flags alike:
 * - a zod schema per component holds the defaults (`.default()`), so they are stated once;
 * - an unknown key is refused with a "did you mean" suggestion (Levenshtein distance, or a known name the key
 *   starts with), at any depth of the schema;
 * - every error has one shape: EdgeloopError with EL_ERR_CONFIG_INVALID (or the component's own code), the message
 *   `<where>: <field.path>: <what was wrong>` and `details: { component, option, issues }`.
 *
 *   parseOptions(IngestOptionsSchema, opts, { where: 'Ingest' })
 *   → EL_ERR_CONFIG_INVALID "Ingest: maxBatchRecords: Too small: expected number to be >=1"
 *   → EL_ERR_CONFIG_INVALID 'Ingest: unknown option "lingerMS" (did you mean "lingerMs"?); known options: …'
 *
 * Injected parts sit in the schema too (`dependency`, `callback`, `clockAndLogger`); a rule between options is thrown
 * with `optionRuleError`; a config section checked on its own names its fields under `prefix`. `schemaDefaults`
 * lists the defaults for the docs check. Hand-validated options objects (a few adapters written before) use
 * checkKnownOptions and the intOption/numberOption/oneOfOption/stringOption checks, which throw the same shape; every
 * unknown key is worded by `unknownKeyError`.
 */
import { z } from 'zod';
import type { Clock } from './clock.ts';
import type { Logger } from './logger.ts';
import { EdgeloopError, type ErrorCode } from '../protocol/errors.ts';
import { type FormatIssuesOptions, type Issue, formatIssues, issuePath } from '../protocol/zod-issues.ts';

/** Case-insensitive Levenshtein distance. */
export function editDistance(a: string, b: string): number {
  const al = a.toLowerCase();
  const bl = b.toLowerCase();
  const prev = Array.from({ length: bl.length + 1 }, (_, i) => i);
  for (let i = 1; i <= al.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= bl.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (al[i - 1] === bl[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[bl.length]!;
}

/** The closest known name, if it is close enough to be a likely misspelling. */
export function suggest(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  if (best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3))) return best;
  // "keepAlive" -> "keepaliveSeconds": a known name that starts with the given one (or the reverse)
  if (lower.length >= 4) {
    return (
      known.find((k) => k.toLowerCase().startsWith(lower)) ??
      known.find((k) => k.length >= 4 && lower.startsWith(k.toLowerCase()))
    );
  }
  return undefined;
}

/** ` (did you mean "x"?)` or nothing. */
export function didYouMean(name: string, known: readonly string[], path: readonly string[] = []): string {
  const hint = suggest(name, known);
  return hint ? ` (did you mean "${[...path, hint].join('.')}"?)` : '';
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  for (;;) {
    if (
      s instanceof z.ZodOptional ||
      s instanceof z.ZodDefault ||
      s instanceof z.ZodPrefault ||
      s instanceof z.ZodNullable ||
      s instanceof z.ZodReadonly
    )
      s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodPipe) s = s.in as z.ZodType;
    else return s;
  }
}

function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  const s = unwrap(schema);
  return s instanceof z.ZodObject ? (s.shape as Record<string, z.ZodType>) : undefined;
}

/** The default a field states (`.default(v)`), looking through optional and the like; undefined when none. */
function defaultOf(schema: z.ZodType): { value: unknown } | undefined {
  let s: z.ZodType = schema;
  for (;;) {
    if (s instanceof z.ZodDefault) return { value: (s.def as { defaultValue: unknown }).defaultValue };
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodReadonly)
      s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodPipe) s = s.in as z.ZodType;
    else return undefined;
  }
}

/**
 * The defaults a schema states, by field path (`{ 'policy.window': 3, references: [] }`), at any depth of nested
 * objects; object-valued defaults (`.default({})`) are left out, their fields are listed. For checking the defaults a
 * reference page documents against the code (test/docs/options-tables.test.ts).
 */
export function schemaDefaults(schema: z.ZodType, prefix: readonly string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const shape = objectShape(schema);
  if (!shape) return out;
  for (const [k, field] of Object.entries(shape)) {
    const path = [...prefix, k];
    const d = defaultOf(field);
    const isObject = typeof d?.value === 'object' && d.value !== null && !Array.isArray(d.value);
    if (d && !isObject) out[path.join('.')] = d.value;
    Object.assign(out, schemaDefaults(field, path));
  }
  return out;
}

/** The keys a schema accepts at `path` (an object nested in objects), or undefined when that is no object. */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let s: z.ZodType | undefined = schema;
  for (const k of path) {
    const shape: Record<string, z.ZodType> | undefined = s ? objectShape(s) : undefined;
    s = shape?.[String(k)];
    if (!s) return undefined;
  }
  const shape = objectShape(s);
  return shape ? Object.keys(shape) : undefined;
}

/**
 * `formatIssues` with a suggestion on every unknown key: `broker.prot: Unrecognized key: "prot" (did you mean
 * "broker.port"?)`. Used for every zod schema a config file, a flag or an options object is checked with.
 */
export function optionIssues(schema: z.ZodType, issues: readonly Issue[], o: FormatIssuesOptions = {}): string[] {
  const lines = formatIssues(issues, o);
  return issues.map((issue, i) => {
    if (issue.code !== 'unrecognized_keys') return lines[i]!;
    const known = knownKeysAt(schema, issue.path) ?? [];
    const path = [...(o.prefix ?? []), ...issue.path].map(String);
    const hints = issue.keys.map((k) => didYouMean(k, known, path)).join('');
    return `${lines[i]}${hints}`;
  });
}

export interface UnknownKeyOptions {
  /** default EL_ERR_CONFIG_INVALID */
  code?: ErrorCode;
  /** what a key is called: "option" (options objects, the default) or "field" (a config file, a spec) */
  noun?: 'option' | 'field';
  /** where the key sits, e.g. ['reconnect'] (suggestions are named with it) */
  path?: readonly string[];
  /** how the known keys are listed after the message: "; known options: a, b" (default), " (known: a, b)", none */
  list?: 'known options' | 'known' | 'none';
}

/** The one error for an unknown key: `<where>: unknown option "a.b" (did you mean "a.c"?); known options: …`. */
export function unknownKeyError(
  where: string,
  key: string,
  known: readonly string[],
  o: UnknownKeyOptions = {},
): EdgeloopError {
  const path = o.path ?? [];
  const field = [...path, key].join('.');
  const list =
    o.list === 'none'
      ? ''
      : o.list === 'known'
        ? ` (known: ${known.join(', ')})`
        : `; known options: ${known.join(', ')}`;
  return new EdgeloopError(
    o.code ?? 'EL_ERR_CONFIG_INVALID',
    `${where}: unknown ${o.noun ?? 'option'} "${field}"${didYouMean(key, known, path)}${list}`,
    { details: { component: where, option: field } },
  );
}

export interface KnownKeysOptions extends Pick<UnknownKeyOptions, 'code' | 'noun'> {
  /** top-level keys that are injected dependencies, accepted beside the schema's */
  injected?: readonly string[];
  /** path segments put before every key name (a config section checked on its own) */
  prefix?: readonly string[];
}

/** Throw for the first key the schema does not know (at any depth), with a "did you mean" hint. */
export function assertKnownKeys(schema: z.ZodType, value: unknown, where: string, o: KnownKeysOptions = {}): void {
  const walk = (s: z.ZodType, v: unknown, path: string[]): void => {
    const shape = objectShape(s);
    if (!shape || typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return;
    const known = [...Object.keys(shape), ...(path.length === 0 ? (o.injected ?? []) : [])];
    for (const [k, child] of Object.entries(v)) {
      if (!known.includes(k)) {
        throw unknownKeyError(where, k, known, { code: o.code, noun: o.noun, path: [...(o.prefix ?? []), ...path] });
      }
      if (shape[k]) walk(shape[k], child, [...path, k]);
    }
  };
  walk(schema, value, []);
}

export interface ParseOptionsOptions {
  /** the component, first in every message: "MqttTransport", "Ingest", "cloud.yaml" */
  where: string;
  /** default EL_ERR_CONFIG_INVALID */
  code?: ErrorCode;
  /** top-level keys that are injected dependencies (clock, logger, …), accepted and left out of the schema */
  injected?: readonly string[];
  /** what an issue on the whole value is called (default "(options)") */
  root?: string;
  /** path segments put before every field name: the section of a config file checked on its own (['drift']) */
  prefix?: readonly string[];
}

/** Validate and default an options object with its component's schema; errors as described in the header. */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, o: ParseOptionsOptions): z.output<S> {
  const code = o.code ?? 'EL_ERR_CONFIG_INVALID';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EdgeloopError(code, `${o.where}: options must be an object`, { details: { component: o.where } });
  }
  const injected = o.injected ?? [];
  const prefix = o.prefix ?? [];
  assertKnownKeys(schema, value, o.where, { injected, code, prefix });
  let input = value as Record<string, unknown>;
  if (injected.length > 0) {
    input = { ...input };
    for (const k of injected) delete input[k];
  }
  const r = schema.safeParse(input);
  if (!r.success) {
    const issues = optionIssues(schema, r.error.issues, { root: o.root ?? (prefix.join('.') || '(options)'), prefix });
    throw new EdgeloopError(code, `${o.where}: ${issues.join('; ')}`, {
      cause: r.error,
      details: { component: o.where, option: issuePath(r.error.issues[0]!, prefix), issues },
    });
  }
  return r.data;
}

/**
 * A rule between options that the schema's per-field checks cannot state (`detectK` at most `window`), found after
 * parseOptions: the same code and details as its errors, the message `<where>: <what was wrong>`.
 */
export function optionRuleError(
  where: string,
  option: string,
  what: string,
  code: ErrorCode = 'EL_ERR_CONFIG_INVALID',
): EdgeloopError {
  return new EdgeloopError(code, `${where}: ${what}`, { details: { component: where, option } });
}

/**
 * An injected dependency kept in a component's schema, so that the schema names every option and a missing one is
 * reported like any other field (`ModelUpdater: transport: required (a Transport)`); the value passes unchanged.
 */
export function dependency<T>(what: string, check: (v: unknown) => boolean = (v) => v != null): z.ZodCustom<T, T> {
  return z.custom<T>(check, { error: `required (${what})` });
}

/** The clock and logger most components take, as schema fields: `z.strictObject({ ..., ...clockAndLogger })`. */
export const clockAndLogger = {
  clock: dependency<Clock>('a Clock').optional(),
  logger: dependency<Logger>('a Logger').optional(),
};

/** A callback option: a function, passed unchanged. */
export function callback<T>(): z.ZodCustom<T, T> {
  return z.custom<T>((v) => typeof v === 'function', { error: 'expected a function' });
}

/** `parseOptions` bound to one component's schema: its `resolve…Options(opts)`. */
export function optionsParser<S extends z.ZodType>(
  schema: S,
  o: ParseOptionsOptions,
): (value: z.input<S>) => z.output<S> {
  return (value) => parseOptions(schema, value, o);
}

// ---- argument checks (a method's argument, not an options object: `read({ limit })`) ----

export function invalidOption(
  component: string,
  name: string,
  expected: string,
  got: unknown,
  code: ErrorCode = 'EL_ERR_CONFIG_INVALID',
): EdgeloopError {
  const shown =
    got === undefined ? 'nothing' : typeof got === 'function' ? 'a function' : JSON.stringify(got)?.slice(0, 60);
  return new EdgeloopError(code, `${component}: option "${name}" must be ${expected}, got ${shown}`, {
    details: { component, option: name },
  });
}

/** An integer argument in [min, max], or `def` when undefined; an error in the options' shape otherwise. */
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

// ---- schema fields shared by the components' schemas ----

/** A number >= `min`, or Infinity (no bound): `retentionMs: numberOrInfinity(1).default(…)`; NaN is refused. */
export function numberOrInfinity(min: number): z.ZodCustom<number, number> {
  return z.custom<number>((v) => typeof v === 'number' && v >= min, {
    error: `Invalid input: expected a number >= ${min} or Infinity`,
  });
}

// ---- schema helpers: requiredString, assertKnownEntryKeys ----

/** A required non-empty string, reported like a missing dependency: `RawArchive: dir: required (a directory)`. */
export function requiredString(what: string): z.ZodString {
  return z.string({ error: `required (${what})` }).min(1, `required (${what})`);
}

/**
 * assertKnownKeys for every entry of a record option (`groups: { <name>: { ttlMs } }`), whose entries the walk of
 * assertKnownKeys does not enter: `SqliteFeatureStore: unknown option "groups.g.ttl" (did you mean "groups.g.ttlMs"?)`.
 * Call it before parseOptions.
 */
export function assertKnownEntryKeys(
  entry: z.ZodType,
  record: unknown,
  where: string,
  path: readonly string[],
  o: Pick<KnownKeysOptions, 'code' | 'noun'> = {},
): void {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return;
  for (const [name, value] of Object.entries(record)) {
    assertKnownKeys(entry, value, where, { ...o, prefix: [...path, name] });
  }
}
