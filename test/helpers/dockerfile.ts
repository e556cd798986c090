/**
 * Reading Dockerfiles and .dockerignore files without a container engine, for the tests of deploy/docker/:
 *   - parseDockerfile(text): the instructions (line continuations joined, comments dropped), grouped into stages,
 *     with ARG defaults substituted (${NAME} and $NAME; not in RUN, CMD, ENTRYPOINT, HEALTHCHECK) and JSON (exec form) arguments decoded;
 *   - dockerignoreMatcher(text): Docker's pattern rules (Go filepath.Match per path segment, `**` for any number
 *     of segments, `!` re-includes, a pattern matching a folder excludes everything below it, no implicit `**\/`);
 *   - contextFiles(root, ignore): the files a build sends as its context.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Instruction {
  /** upper-case keyword: FROM, RUN, COPY, USER, HEALTHCHECK, CMD, ... */
  op: string;
  /** the rest of the line, ARGs substituted */
  args: string;
  /** --name=value flags before the arguments (COPY --from, HEALTHCHECK --interval, ...) */
  flags: Record<string, string>;
  /** the arguments after the flags: a JSON array decoded, or split on white space */
  words: string[];
  /** true when written as a JSON array (exec form) */
  exec: boolean;
}

export interface Stage {
  /** the FROM image, ARGs substituted */
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

function substitute(text: string, args: Record<string, string>): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (m, a?: string, b?: string) => args[(a ?? b)!] ?? m,
  );
}

function splitArgs(rest: string): { flags: Record<string, string>; words: string[]; exec: boolean } {
  const flags: Record<string, string> = {};
  let body = rest.trim();
  for (let m = /^--([a-z-]+)=(\S+)\s*/.exec(body); m; m = /^--([a-z-]+)=(\S+)\s*/.exec(body)) {
    flags[m[1]!] = m[2]!;
    body = body.slice(m[0].length);
  }
  // HEALTHCHECK [flags] CMD <command>: the words are the command's
  body = body.replace(/^CMD\s+/, '');
  if (body.startsWith('[')) {
    const words = JSON.parse(body) as unknown;
    if (!Array.isArray(words) || !words.every((w) => typeof w === 'string'))
      throw new Error(`not a JSON array of strings: ${body}`);
    return { flags, words, exec: true };
  }
  return { flags, words: body.split(/\s+/).filter(Boolean), exec: false };
}

const SHELL_OPS = new Set(['RUN', 'CMD', 'ENTRYPOINT', 'HEALTHCHECK']);

/** Stages of a Dockerfile (ARGs before the first FROM apply to FROM lines; inside a stage, to what follows them). */
export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  if (pending) logical.push(pending);
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  let args: Record<string, string> = globalArgs;
  for (const l of logical) {
    const m = /^([A-Za-z]+)\s*(.*)$/.exec(l);
    if (!m) throw new Error(`not an instruction: ${l}`);
    const op = m[1]!.toUpperCase();
    // Docker expands ARGs in the other instructions; in these the shell (or nobody) does
    const rest = SHELL_OPS.has(op) ? m[2]! : substitute(m[2]!, args);
    if (op === 'ARG') {
      const eq = rest.indexOf('=');
      const [name, value] = eq < 0 ? [rest.trim(), undefined] : [rest.slice(0, eq), rest.slice(eq + 1)];
      // inside a stage a bare ARG brings a global default into scope; build-time values are not known here
      args[name] = value ?? globalArgs[name] ?? args[name] ?? '';
      continue;
    }
    if (op === 'FROM') {
      const parts = splitArgs(rest).words;
      const as = parts.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({ image: parts[0]!, name: as >= 0 ? parts[as + 1] : undefined, instructions: [] });
      args = { ...globalArgs };
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`${op} before the first FROM`);
    stage.instructions.push({ op, args: rest, ...splitArgs(rest) });
  }
  return stages;
}

/** Go's filepath.Match for one path segment: `*`, `?`, `[...]`. */
function segmentRegex(seg: string): string {
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i);
      re += end > i ? seg.slice(i, end + 1).replace('[!', '[^') : '\\[';
      if (end > i) i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return re;
}

function patternRegex(pattern: string): RegExp {
  const segs = pattern.split('/').filter((s) => s !== '' && s !== '.');
  const body = segs.map((s) => (s === '**' ? '(?:[^/]+/)*' : segmentRegex(s) + '/')).join('');
  // the pattern names the path itself or one of its folders (everything below a matched folder is excluded)
  return new RegExp(`^${body.replace(/\/$/, '')}(?:/.*)?$`);
}

export interface IgnoreMatcher {
  /** for a path relative to the context root, with forward slashes */
  (path: string): boolean;
  /** some rule starts with `!`: files below an ignored folder may be in the context */
  readonly reincludes: boolean;
}

export function dockerignoreMatcher(text: string): IgnoreMatcher {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      return { negate, re: patternRegex((negate ? l.slice(1) : l).trim().replace(/^\/+/, '')) };
    });
  const ignored = (path: string): boolean => {
    let out = false;
    for (const r of rules) if (r.re.test(path)) out = !r.negate;
    return out;
  };
  return Object.assign(ignored, { reincludes: rules.some((r) => r.negate) });
}

/** Files of a build context (relative, forward slashes). Ignored folders are not walked when no rule re-includes. */
export function contextFiles(root: string, ignored: IgnoreMatcher): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (ignored.reincludes || !ignored(p)) walk(p);
      } else if (!ignored(p)) out.push(p);
    }
  };
  walk('');
  return out;
}

/** Does the COPY source `src` (may hold `*`, `?`; relative to the context) name at least one of `files`? */
export function copySourceMatches(src: string, files: readonly string[]): string[] {
  const re = patternRegex(src.replace(/^\.\//, '').replace(/\/$/, ''));
  return src === '.' || src === './' ? [...files] : files.filter((f) => re.test(f));
}
