/**
 * Schema-driven HTTP testing in the manner of schemathesis: from an OpenAPI 3.x document, generate for every
 * operation requests whose parameters and body are valid (boundaries: shortest and longest strings, smallest and
 * largest numbers and arrays, required-only and complete objects, each oneOf branch) and requests that break one
 * rule at a time (wrong type, too long, too short, out of range, pattern, missing required, forbidden extra
 * property, too many items or properties, both oneOf branches, no body, malformed JSON). Each request is sent
 * through a caller-supplied function (Fastify `inject()`, `fetch`), and each answer is checked against the
 * document: the status is documented for the operation, valid input is not rejected, invalid input is, and the
 * body matches the documented schema of that status and content type.
 *
 * Every generated value is checked with ajv (the one Fastify depends on) before it is used, so a case labelled
 * valid is valid by the schema and one labelled invalid is invalid, whatever the generator's shortcuts.
 * Supported JSON Schema: type (and type lists), const, enum, string length and pattern, numeric bounds, items and
 * item counts, properties, required, additionalProperties, maxProperties, oneOf / anyOf; a `$ref` only to a place in
 * the same document (`#/components/schemas/Error`), read as what it names.
 */
import { Ajv, type ValidateFunction } from 'ajv';

/** A JSON Schema object (the subset above). */
export type Schema = { [k: string]: unknown };

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema: Schema;
}

interface MediaType {
  schema?: Schema;
}

interface Operation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, MediaType> };
  responses: Record<string, { description?: string; content?: Record<string, MediaType> }>;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components?: Record<string, unknown>;
}

/** `value` with every local `$ref` (`#/components/...`) replaced by what it names in `root`. */
export function inlineRefs<T>(value: T, root: unknown = value): T {
  const at = (ref: string): unknown =>
    ref
      .slice(2)
      .split('/')
      .reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], root);
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v !== 'object' || v === null) return v;
    const ref = (v as { $ref?: unknown }).$ref;
    if (typeof ref === 'string' && ref.startsWith('#/')) return walk(at(ref));
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
  };
  return walk(value) as T;
}

export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface FuzzCase {
  /** `GET /v1/things/{id}` */
  operation: string;
  valid: boolean;
  /** what the case varies: `path entityId: 128 characters`, `body.items[0]: extra property` */
  why: string;
  params: Record<string, unknown>;
  body?: unknown;
  request: FuzzRequest;
}

export interface FuzzResponse {
  status: number;
  contentType: string | undefined;
  body: string;
}

export interface FuzzFinding {
  operation: string;
  why: string;
  url: string;
  status: number;
  problem: string;
  body: string;
}

export interface FuzzOptions {
  /** statuses that count as "rejected as invalid input" (default 400, 413, 414, 415) */
  rejectStatuses?: number[];
  /** most values generated per nested schema node (default 8) */
  maxValuesPerNode?: number;
  /** most valid values per parameter and per request body (default 64) */
  maxValuesPerInput?: number;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
const ALPHABETS = ['a', 'Z9', 'a0._:-', 'm'];

/** Generates and checks values for one document. */
class ValueGenerator {
  // values are checked as sent: a JSON body is not coerced, nothing is removed
  readonly #strict = new Ajv({ strict: false, allErrors: false, validateFormats: false });
  // path, query and header values arrive as strings: checked after the coercion servers apply
  readonly #coercing = new Ajv({ strict: false, coerceTypes: 'array', validateFormats: false });
  readonly #compiled = new WeakMap<Schema, ValidateFunction>();
  readonly #coercedCompiled = new WeakMap<Schema, ValidateFunction>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  isValid(schema: Schema, value: unknown): boolean {
    let v = this.#compiled.get(schema);
    if (!v) this.#compiled.set(schema, (v = this.#strict.compile(schema)));
    return v(value) === true;
  }

  /** a parameter's value as the server sees it: its string form, coerced to the schema's type */
  isValidAsString(schema: Schema, value: string): boolean {
    let v = this.#coercedCompiled.get(schema);
    if (!v)
      this.#coercedCompiled.set(
        schema,
        (v = this.#coercing.compile({ type: 'object', properties: { x: schema }, required: ['x'] })),
      );
    return v({ x: value }) === true;
  }

  /** distinct valid values, boundaries first; `max` bounds the count (nested nodes use the generator's default) */
  valid(schema: Schema, max = this.#max): unknown[] {
    const out: unknown[] = [];
    for (const c of this.#validCandidates(schema)) {
      if (out.length >= max) break;
      if (this.isValid(schema, c) && !out.some((o) => same(o, c))) out.push(c);
    }
    return out;
  }

  invalid(schema: Schema): Array<{ value: unknown; why: string }> {
    const out: Array<{ value: unknown; why: string }> = [];
    for (const c of this.#invalidCandidates(schema)) {
      if (!this.isValid(schema, c.value) && !out.some((o) => same(o.value, c.value))) out.push(c);
    }
    return out;
  }

  *#validCandidates(s: Schema): Generator<unknown> {
    if ('const' in s) yield s.const;
    if (Array.isArray(s.enum)) yield* s.enum;
    for (const branch of [...asArray(s.oneOf), ...asArray(s.anyOf)])
      if (!s.type && !s.properties) yield* this.valid(branch as Schema);
    for (const t of types(s)) {
      if (t === 'string') yield* this.#validStrings(s);
      else if (t === 'integer' || t === 'number') yield* numbers(s, t);
      else if (t === 'boolean') yield* [true, false];
      else if (t === 'null') yield null;
      else if (t === 'array') yield* this.#validArrays(s);
      else if (t === 'object') yield* this.#validObjects(s);
    }
  }

  *#validStrings(s: Schema): Generator<string> {
    const min = num(s.minLength) ?? 0;
    const max = num(s.maxLength);
    const lengths = unique([Math.max(min, 1), max ?? 8, Math.min(Math.max(min, 8), max ?? 8), min]);
    for (const n of lengths) for (const a of ALPHABETS) if (n > 0 || a === 'a') yield fill(a, n);
  }

  *#validArrays(s: Schema): Generator<unknown[]> {
    const items = this.valid((s.items as Schema) ?? {});
    if (items.length === 0) items.push('x');
    const min = num(s.minItems) ?? 0;
    const max = num(s.maxItems);
    for (const n of unique([Math.max(min, 1), min, max ?? 3, Math.min(items.length, max ?? items.length)])) {
      yield Array.from({ length: n }, (_, i) => items[i % items.length]);
    }
    // every valid item value in one position (boundaries of the item schema)
    for (const it of items) yield Array.from({ length: Math.max(min, 1) }, () => it);
  }

  *#validObjects(s: Schema): Generator<Record<string, unknown>> {
    const bases = this.#objectBases(s);
    yield* bases;
    for (const base of bases) {
      // each property, present or optional, through its own valid values
      for (const key of unique([...Object.keys(base), ...Object.keys(this.#props(s))])) {
        for (const v of this.valid(this.#props(s)[key] ?? {})) yield { ...base, [key]: v };
      }
      const extra = s.additionalProperties;
      if (extra && typeof extra === 'object') {
        for (const v of this.valid(extra as Schema)) yield { ...base, extra_prop: v };
        const maxProps = num(s.maxProperties);
        const first = this.valid(extra as Schema)[0];
        if (maxProps !== undefined && first !== undefined) yield fillProps(base, maxProps, first);
      }
    }
  }

  /** required-only, complete, and one per oneOf / anyOf branch that names required properties */
  #objectBases(s: Schema): Array<Record<string, unknown>> {
    const props = this.#props(s);
    const required = asArray(s.required) as string[];
    const sets = [required, Object.keys(props)];
    for (const b of [...asArray(s.oneOf), ...asArray(s.anyOf)])
      sets.push([...required, ...(asArray((b as Schema).required) as string[])]);
    const bases: Array<Record<string, unknown>> = [];
    for (const keys of sets) {
      const o: Record<string, unknown> = {};
      for (const k of unique(keys)) {
        const v = this.valid(props[k] ?? {})[0];
        if (v !== undefined) o[k] = v;
      }
      if (this.isValid(s, o) && !bases.some((b) => same(b, o))) bases.push(o);
    }
    return bases;
  }

  #props(s: Schema): Record<string, Schema> {
    return (s.properties as Record<string, Schema> | undefined) ?? {};
  }

  *#invalidCandidates(s: Schema): Generator<{ value: unknown; why: string }> {
    const ts = types(s);
    // one value of each JSON type; those the schema allows are filtered out by the caller
    const firstValid = this.valid(s)[0];
    yield* [
      { value: 12345, why: 'wrong type: number' },
      { value: '1', why: 'wrong type: numeric string' },
      { value: 'abc', why: 'wrong type: string' },
      { value: true, why: 'wrong type: boolean' },
      { value: null, why: 'wrong type: null' },
      { value: [firstValid ?? 1], why: 'wrong type: array' },
      { value: { x: firstValid ?? 1 }, why: 'wrong type: object' },
    ];
    if (Array.isArray(s.enum)) yield { value: 'not-one-of-the-enum', why: 'not in enum' };
    if (ts.includes('string')) yield* this.#invalidStrings(s);
    if (ts.includes('integer') || ts.includes('number')) {
      const min = num(s.minimum);
      const max = num(s.maximum);
      if (min !== undefined) yield { value: min - 1, why: `below minimum ${min}` };
      if (max !== undefined) yield { value: max + 1, why: `above maximum ${max}` };
      if (ts.includes('integer') && !ts.includes('number')) yield { value: (min ?? 0) + 1.5, why: 'not an integer' };
    }
    if (ts.includes('array')) yield* this.#invalidArrays(s);
    if (ts.includes('object')) yield* this.#invalidObjects(s);
  }

  *#invalidStrings(s: Schema): Generator<{ value: unknown; why: string }> {
    const longest = this.valid(s).reduce<string>((a, b) => (typeof b === 'string' && b.length > a.length ? b : a), '');
    const max = num(s.maxLength);
    const min = num(s.minLength);
    if (max !== undefined)
      yield { value: longest.padEnd(max + 1, longest[0] ?? 'a'), why: `${max + 1} characters (maxLength ${max})` };
    if (min !== undefined && min > 0)
      yield { value: longest.slice(0, min - 1), why: `${min - 1} characters (minLength ${min})` };
    if (typeof s.pattern === 'string') {
      const ok = longest.slice(0, Math.max(1, Math.min(longest.length, 8)));
      for (const bad of ['!', ' ', '/', '.', '-', 'é', '%']) {
        yield { value: bad + ok.slice(1), why: `pattern: leading ${JSON.stringify(bad)}` };
        yield { value: ok.slice(0, -1) + bad, why: `pattern: ${JSON.stringify(bad)} inside` };
      }
    }
  }

  *#invalidArrays(s: Schema): Generator<{ value: unknown; why: string }> {
    const items = this.valid((s.items as Schema) ?? {});
    const first = items[0] ?? 'x';
    const max = num(s.maxItems);
    const min = num(s.minItems);
    if (max !== undefined)
      yield {
        value: Array.from({ length: max + 1 }, (_, i) => items[i % items.length] ?? first),
        why: `${max + 1} items (maxItems ${max})`,
      };
    if (min !== undefined && min > 0)
      yield { value: Array.from({ length: min - 1 }, () => first), why: `${min - 1} items (minItems ${min})` };
    if (s.items) {
      for (const bad of this.invalid(s.items as Schema)) {
        yield {
          value: [bad.value, ...Array.from({ length: Math.max(0, (min ?? 1) - 1) }, () => first)],
          why: `[0]: ${bad.why}`,
        };
      }
    }
  }

  *#invalidObjects(s: Schema): Generator<{ value: unknown; why: string }> {
    const props = this.#props(s);
    const bases = this.#objectBases(s);
    const base = bases[0] ?? {};
    for (const k of asArray(s.required) as string[]) {
      const { [k]: _, ...rest } = base;
      yield { value: rest, why: `missing required "${k}"` };
    }
    if (s.additionalProperties === false)
      yield { value: { ...base, unexpected_prop: 1 }, why: 'extra property (additionalProperties: false)' };
    const extra = s.additionalProperties;
    if (extra && typeof extra === 'object') {
      for (const bad of this.invalid(extra as Schema))
        yield { value: { ...base, extra_prop: bad.value }, why: `.extra_prop: ${bad.why}` };
      const maxProps = num(s.maxProperties);
      const first = this.valid(extra as Schema)[0];
      if (maxProps !== undefined && first !== undefined)
        yield {
          value: fillProps(base, maxProps + 1, first),
          why: `${maxProps + 1} properties (maxProperties ${maxProps})`,
        };
    }
    if (asArray(s.oneOf).length > 1) {
      const all: Record<string, unknown> = Object.assign({}, ...bases);
      yield { value: all, why: 'matches more than one oneOf branch' };
    }
    for (const [k, ps] of Object.entries(props)) {
      // mutate k inside a valid object that has it, so the case is about k alone
      const holder =
        bases.find((b) => k in b) ?? this.valid(s, Infinity).find((v) => typeof v === 'object' && v !== null && k in v);
      if (!holder || typeof holder !== 'object') continue;
      for (const bad of this.invalid(ps))
        yield { value: { ...(holder as Record<string, unknown>), [k]: bad.value }, why: `.${k}: ${bad.why}` };
    }
  }
}

/** Every case for every operation of the document. */
export function generateCases(document: OpenApiDocument, opts: FuzzOptions = {}): FuzzCase[] {
  const doc = inlineRefs(document);
  const g = new ValueGenerator(opts.maxValuesPerNode ?? 8);
  const top = opts.maxValuesPerInput ?? 64;
  const cases: FuzzCase[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.includes(method)) continue;
      const operation = `${method.toUpperCase()} ${path}`;
      const params = (op.parameters ?? []).filter((p) => p.in === 'path' || p.in === 'query');
      const jsonBody = op.requestBody?.content['application/json']?.schema;
      const baseParams: Record<string, unknown> = {};
      for (const p of params) {
        const v = g.valid(p.schema)[0];
        if (v === undefined) throw new Error(`${operation}: no valid value for parameter ${p.name}`);
        if (p.required || p.in === 'path') baseParams[p.name] = v;
      }
      const baseBody = jsonBody ? g.valid(jsonBody)[0] : undefined;
      if (jsonBody && baseBody === undefined) throw new Error(`${operation}: no valid request body from its schema`);
      const add = (valid: boolean, why: string, ps: Record<string, unknown>, body: unknown, raw?: string): void => {
        cases.push({
          operation,
          valid,
          why,
          params: ps,
          ...(body === undefined ? {} : { body }),
          request: request(method, path, params, ps, body, raw),
        });
      };
      add(true, 'required parameters only', baseParams, baseBody);
      for (const p of params) {
        const where = `${p.in} ${p.name}`;
        for (const v of g.valid(p.schema, top)) {
          if (!g.isValidAsString(p.schema, String(v))) continue;
          add(true, `${where}: ${describe(v)}`, { ...baseParams, [p.name]: v }, baseBody);
        }
        for (const bad of g.invalid(p.schema)) {
          const text =
            typeof bad.value === 'object' && bad.value !== null ? JSON.stringify(bad.value) : String(bad.value);
          // a path parameter cannot be empty, and its string form must still be invalid after coercion
          if ((p.in === 'path' && text === '') || g.isValidAsString(p.schema, text)) continue;
          add(false, `${where}: ${bad.why}`, { ...baseParams, [p.name]: text }, baseBody);
        }
        if (p.required && p.in === 'query') {
          const { [p.name]: _, ...rest } = baseParams;
          add(false, `${where}: missing`, rest, baseBody);
        }
      }
      if (jsonBody) {
        for (const v of g.valid(jsonBody, top)) add(true, `body: ${describe(v)}`, baseParams, v);
        for (const bad of g.invalid(jsonBody))
          add(
            false,
            `body${bad.why.startsWith('.') || bad.why.startsWith('[') ? '' : ': '}${bad.why}`,
            baseParams,
            bad.value,
          );
        add(false, 'body: malformed JSON', baseParams, undefined, '{"');
        if (op.requestBody?.required) add(false, 'body: missing', baseParams, undefined);
      }
    }
  }
  return cases;
}

function request(
  method: string,
  path: string,
  params: Parameter[],
  values: Record<string, unknown>,
  body: unknown,
  raw: string | undefined,
): FuzzRequest {
  let url = path.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(String(values[name])));
  const query = params
    .filter((p) => p.in === 'query' && values[p.name] !== undefined)
    .map((p) => `${encodeURIComponent(p.name)}=${encodeURIComponent(String(values[p.name]))}`);
  if (query.length) url += `?${query.join('&')}`;
  const text = raw ?? (body === undefined ? undefined : JSON.stringify(body));
  return {
    method: method.toUpperCase(),
    url,
    headers: text === undefined ? {} : { 'content-type': 'application/json' },
    ...(text === undefined ? {} : { body: text }),
  };
}

/** Problems of one answer against the document (empty = conforms). */
export function checkResponse(
  doc: OpenApiDocument,
  c: FuzzCase,
  res: FuzzResponse,
  opts: FuzzOptions = {},
  ajv = new Ajv({ strict: false, validateFormats: false }),
): string[] {
  const reject = opts.rejectStatuses ?? [400, 413, 414, 415];
  const [method, path] = c.operation.split(' ') as [string, string];
  const op = inlineRefs(doc.paths[path]![method.toLowerCase()]!, doc);
  const problems: string[] = [];
  const documented =
    op.responses[String(res.status)] ?? op.responses[`${String(res.status)[0]}XX`] ?? op.responses.default;
  if (!documented)
    problems.push(`status ${res.status} is not documented (documented: ${Object.keys(op.responses).join(', ')})`);
  if (c.valid && reject.includes(res.status)) problems.push(`valid input rejected with ${res.status}`);
  if (!c.valid && !reject.includes(res.status))
    problems.push(`invalid input accepted: ${res.status} instead of one of ${reject.join('/')}`);
  if (!documented?.content) return problems;
  const type = (res.contentType ?? '').split(';')[0]!.trim();
  const media = documented.content[type];
  if (!media) {
    problems.push(
      `content-type ${JSON.stringify(res.contentType)} is not documented for ${res.status} (documented: ${Object.keys(documented.content).join(', ')})`,
    );
    return problems;
  }
  if (!media.schema) return problems;
  let body: unknown = res.body;
  if (type === 'application/json') {
    try {
      body = JSON.parse(res.body);
    } catch {
      problems.push('body is not JSON');
      return problems;
    }
  }
  const validate = ajv.compile(media.schema);
  if (!validate(body))
    problems.push(`body does not match the ${res.status} schema: ${ajv.errorsText(validate.errors)}`);
  return problems;
}

/** Generates the cases, sends each one, and returns every answer that does not conform. */
export async function fuzzOpenApi(
  doc: OpenApiDocument,
  send: (req: FuzzRequest) => Promise<FuzzResponse>,
  opts: FuzzOptions & { cases?: FuzzCase[] } = {},
): Promise<{ cases: FuzzCase[]; findings: FuzzFinding[]; statuses: Record<string, Record<number, number>> }> {
  const cases = opts.cases ?? generateCases(doc, opts);
  const ajv = new Ajv({ strict: false, validateFormats: false });
  const findings: FuzzFinding[] = [];
  const statuses: Record<string, Record<number, number>> = {};
  for (const c of cases) {
    const res = await send(c.request);
    const s = (statuses[c.operation] ??= {});
    s[res.status] = (s[res.status] ?? 0) + 1;
    for (const problem of checkResponse(doc, c, res, opts, ajv)) {
      findings.push({
        operation: c.operation,
        why: c.why,
        url: c.request.url.slice(0, 200),
        status: res.status,
        problem,
        body: res.body.slice(0, 300),
      });
    }
  }
  return { cases, findings, statuses };
}

function types(s: Schema): string[] {
  if (Array.isArray(s.type)) return s.type as string[];
  if (typeof s.type === 'string') return [s.type];
  if (s.properties || s.additionalProperties !== undefined || s.required) return ['object'];
  return [];
}

function* numbers(s: Schema, t: string): Generator<number> {
  const min = num(s.minimum);
  const max = num(s.maximum);
  const lo = min ?? (max !== undefined ? max - 10 : 0);
  const hi = max ?? lo + 1_000_000;
  yield lo;
  yield hi;
  yield t === 'integer' ? Math.floor((lo + hi) / 2) : (lo + hi) / 2 + 0.25;
  if (min === undefined) yield -1;
}

function fill(alphabet: string, n: number): string {
  let s = '';
  while (s.length < n) s += alphabet;
  return s.slice(0, n);
}

function fillProps(base: Record<string, unknown>, n: number, value: unknown): Record<string, unknown> {
  const o = { ...base };
  for (let i = 0; Object.keys(o).length < n; i++) o[`p${i}`] = value;
  return o;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function describe(v: unknown): string {
  if (typeof v === 'string')
    return `${v.length} characters ${JSON.stringify(v.length > 24 ? `${v.slice(0, 12)}…` : v)}`;
  if (Array.isArray(v)) return `${v.length} items`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v).slice(0, 6).join(', ')}${Object.keys(v).length > 6 ? `, … (${Object.keys(v).length})` : ''}}`;
  return JSON.stringify(v);
}
