/**
 * The figure tables of docs/benchmarks.md, generated from bench/results/*.json. A generated table stands between
 * `<!-- bench:<name> -->` and `<!-- /bench:<name> -->`; everything outside the markers (method, readings) is
 * written by hand. Pure: strings in, strings out.
 */
import { type BenchResult, formatNumber, ratioText } from './report.ts';

export function renderTable(r: BenchResult): string {
  const lines = [
    `Generated from \`bench/results/${r.name}.json\`: ${r.at.slice(0, 16).replace('T', ' ')} UTC, git ${r.git}, ` +
      `${r.machine.cpus} cores, node ${r.machine.node}, load average ${r.load[0].toFixed(1)}` +
      (r.load[0] > r.machine.cpus ? ' (under load)' : '') +
      '.',
    '',
    '| figure | value | raw limit, same run | ratio |',
    '|---|---|---|---|',
  ];
  for (const f of r.figures) {
    const raw = f.raw === undefined ? '' : `${formatNumber(f.raw)} ${f.rawUnit ?? f.unit}`;
    lines.push(`| ${f.label} | ${formatNumber(f.value)} ${f.unit} | ${raw} | ${ratioText(f)} |`);
  }
  return lines.join('\n');
}

/**
 * `markdown` with the section of every result that has markers replaced by its table. Returns the names whose
 * markers were found; a result without markers is left out (the page decides what it shows).
 */
export function writeTables(
  markdown: string,
  results: readonly BenchResult[],
): { markdown: string; updated: string[] } {
  let out = markdown;
  const updated: string[] = [];
  for (const r of results) {
    const start = `<!-- bench:${r.name} -->`;
    const end = `<!-- /bench:${r.name} -->`;
    const i = out.indexOf(start);
    const j = out.indexOf(end);
    if (i < 0 || j < i) continue;
    out = `${out.slice(0, i + start.length)}\n${renderTable(r)}\n${out.slice(j)}`;
    updated.push(r.name);
  }
  return { markdown: out, updated };
}
