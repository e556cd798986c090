/**
 * The metric names a PromQL expression reads, for checking dashboards and rules against what the components export.
 * A small tokenizer, not a parser: it drops strings, label matchers `{...}`, ranges and subqueries `[...]`, numbers
 * and durations, Grafana variables (`$__rate_interval`, `${instance}`), keywords and the label lists of `by`,
 * `without`, `on`, `ignoring`, `group_left`, `group_right`, and aggregation operators; an identifier followed by `(` is a
 * function. What is left is a metric name (`up`, `edgeloop_x_total`, or a recording rule's `level:metric:op`).
 */
const TOKEN =
  /\s+|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`|\$\{[^}]*\}|\$\w+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-zA-Z]*|\.\d+|[a-zA-Z_:][\w:]*|=~|!~|!=|==|>=|<=|[{}()[\],\-+*/%^<>=@]/y;
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'start', 'end']);
/** aggregation operators: `sum by (le) (x)` puts the label list between the name and its `(` */
const AGGREGATIONS = new Set([
  'sum',
  'avg',
  'min',
  'max',
  'count',
  'group',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
  'limitk',
  'limit_ratio',
]);
/** keywords that take a parenthesised label list */
const LABEL_LIST = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

export function tokenize(expr: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expr.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(expr);
    if (!m)
      throw new Error(
        `PromQL: cannot read ${JSON.stringify(expr.slice(at, at + 20))} at ${at} in ${JSON.stringify(expr)}`,
      );
    if (!/^\s/.test(m[0])) out.push(m[0]);
  }
  return out;
}

/** the metric names `expr` reads, each once, in order of appearance */
export function metricNames(expr: string): string[] {
  const t = tokenize(expr);
  const names: string[] = [];
  let braces = 0;
  let brackets = 0;
  for (let i = 0; i < t.length; i++) {
    const tok = t[i]!;
    if (tok === '{') braces++;
    else if (tok === '}') braces--;
    else if (tok === '[') brackets++;
    else if (tok === ']') brackets--;
    else if (braces > 0 && tok === '__name__') throw new Error(`PromQL: a __name__ matcher cannot be checked: ${expr}`);
    if (braces > 0 || brackets > 0 || !/^[a-zA-Z_:]/.test(tok)) continue;
    const lower = tok.toLowerCase();
    if (LABEL_LIST.has(lower)) {
      if (t[i + 1] === '(') {
        i = t.indexOf(')', i + 1);
        if (i < 0) throw new Error(`PromQL: unclosed label list after "${tok}" in ${JSON.stringify(expr)}`);
      }
      continue;
    }
    if (KEYWORDS.has(lower) || AGGREGATIONS.has(lower) || t[i + 1] === '(') continue;
    if (!names.includes(tok)) names.push(tok);
  }
  if (braces !== 0 || brackets !== 0)
    throw new Error(`PromQL: unbalanced braces or brackets in ${JSON.stringify(expr)}`);
  return names;
}

/**
 * The names a Prometheus text body exports: every sample's name, and for each `# TYPE` family its name plus the
 * series a histogram or summary has (`_bucket`, `_count`, `_sum`), so a labelled histogram with no observation yet
 * still counts.
 */
export function exportedNames(body: string): Set<string> {
  const names = new Set<string>();
  for (const line of body.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      const name = type[1]!;
      const kind = type[2]!;
      names.add(name);
      if (kind === 'histogram') for (const s of ['_bucket', '_count', '_sum']) names.add(name + s);
      if (kind === 'summary') for (const s of ['_count', '_sum']) names.add(name + s);
    } else if (line && !line.startsWith('#')) {
      names.add(/^[^{\s]+/.exec(line)![0]);
    }
  }
  return names;
}
