/**
 * One formatting of zod validation issues for every error message that reports them (config files, options
 * objects, manifests, CLI flags): `path: message`, with `(root)` for an issue on the whole value.
 *
 *   formatIssues(r.error.issues)                       → ['outbox.maxBytes: Invalid input: expected number, received string']
 *   formatIssues(r.error.issues, { prefix: ['recommend'] }) → ['recommend.port: ...']
 */
import type { z } from 'zod';

export type Issue = z.core.$ZodIssue;

export interface FormatIssuesOptions {
  /** path segments put before each issue's path, e.g. ['recommend'] or ['transport'] */
  prefix?: ReadonlyArray<string | number>;
  /** what an empty path is called (default "(root)") */
  root?: string;
  /** a note after the path of an issue, e.g. where the value came from: " (from EDGELOOP_X)" */
  note?: (path: string) => string;
}

export function issuePath(issue: Pick<Issue, 'path'>, prefix: ReadonlyArray<string | number> = []): string {
  return [...prefix, ...issue.path].map(String).join('.');
}

export function formatIssues(issues: readonly Issue[], o: FormatIssuesOptions = {}): string[] {
  return issues.map((i) => {
    const path = issuePath(i, o.prefix) || (o.root ?? '(root)');
    return `${path}${o.note?.(path) ?? ''}: ${i.message}`;
  });
}

/** `formatIssues(...).join('; ')`: the one-line form used in error messages. */
export function issuesLine(issues: readonly Issue[], o: FormatIssuesOptions = {}): string {
  return formatIssues(issues, o).join('; ');
}

/** What a value should have been, from one issue ("one of a|b", "a number >= 1"), for "… (expected …)" messages. */
export function expectedOf(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_value':
      return `one of ${issue.values.map((v) => String(v)).join('|')}`;
    case 'invalid_type':
      return issue.expected;
    case 'too_small':
      return `${issue.origin === 'string' || issue.origin === 'array' ? 'length ' : ''}${issue.inclusive === false ? '>' : '>='} ${String(issue.minimum)}`;
    case 'too_big':
      return `${issue.origin === 'string' || issue.origin === 'array' ? 'length ' : ''}${issue.inclusive === false ? '<' : '<='} ${String(issue.maximum)}`;
    case 'invalid_format':
      return `a valid ${issue.format}`;
    default:
      return issue.message;
  }
}
