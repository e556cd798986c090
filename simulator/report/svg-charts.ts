/** Tiny inline-SVG charts for self-contained HTML reports (no scripts, no CDN). Pure string builders. */

export interface LineSeries {
  name: string;
  values: number[];
  color: string;
}

export interface Band {
  from: number;
  to: number;
  label: string;
}

const esc = (s: string): string =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmtNum(v: number): string {
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (Math.abs(v) >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** Line chart over x = 0..n-1 seconds, with shaded bands (fault windows). */
export function lineChart(
  series: LineSeries[],
  o: { width?: number; height?: number; title: string; yLabel: string; bands?: Band[] },
): string {
  const W = o.width ?? 760;
  const H = o.height ?? 260;
  const L = 56;
  const R = 12;
  const T = 28;
  const B = 36;
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const yMax = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const x = (i: number): number => L + (i / (n - 1)) * (W - L - R);
  const y = (v: number): number => T + (1 - v / yMax) * (H - T - B);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">`,
  );
  parts.push(`<text x="${L}" y="16" font-size="13" font-weight="600">${esc(o.title)}</text>`);
  for (const b of o.bands ?? []) {
    const x0 = x(Math.max(0, b.from));
    const x1 = x(Math.min(n - 1, Math.max(b.from + 0.5, b.to)));
    parts.push(
      `<rect x="${x0.toFixed(1)}" y="${T}" width="${Math.max(2, x1 - x0).toFixed(1)}" height="${H - T - B}" fill="#f59e0b" opacity="0.15"><title>${esc(b.label)}</title></rect>`,
    );
    parts.push(`<text x="${(x0 + 2).toFixed(1)}" y="${T + 11}" font-size="10" fill="#92400e">${esc(b.label)}</text>`);
  }
  for (let k = 0; k <= 4; k++) {
    const v = (yMax * k) / 4;
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e7eb"/>`);
    parts.push(
      `<text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" font-size="10" text-anchor="end" fill="#6b7280">${fmtNum(v)}</text>`,
    );
  }
  const ticks = Math.min(10, n - 1);
  for (let k = 0; k <= ticks; k++) {
    const i = Math.round((k * (n - 1)) / ticks);
    parts.push(
      `<text x="${x(i).toFixed(1)}" y="${H - B + 14}" font-size="10" text-anchor="middle" fill="#6b7280">${i}s</text>`,
    );
  }
  parts.push(
    `<text x="12" y="${(T + (H - T - B) / 2).toFixed(0)}" font-size="10" fill="#6b7280" transform="rotate(-90 12 ${(T + (H - T - B) / 2).toFixed(0)})" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  series.forEach((s, si) => {
    const pts = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.6" points="${pts}"/>`);
    parts.push(
      `<rect x="${L + si * 130}" y="${H - 14}" width="10" height="10" fill="${s.color}"/><text x="${L + 14 + si * 130}" y="${H - 5}" font-size="11">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Histogram of [upper edge, count] buckets on a log x axis. */
export function histogramChart(
  buckets: Array<[number, number]>,
  o: { width?: number; height?: number; title: string; unit: string; markers?: Array<{ at: number; label: string }> },
): string {
  const W = o.width ?? 760;
  const H = o.height ?? 240;
  const L = 56;
  const R = 12;
  const T = 28;
  const B = 36;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">`,
    `<text x="${L}" y="16" font-size="13" font-weight="600">${esc(o.title)}</text>`,
  ];
  if (buckets.length === 0) {
    parts.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#6b7280">no samples</text></svg>`);
    return parts.join('');
  }
  const lo = Math.log10(Math.max(0.01, buckets[0]![0] / 1.05));
  const hi = Math.log10(Math.max(buckets.at(-1)![0], buckets[0]![0] * 2));
  const x = (v: number): number => L + ((Math.log10(Math.max(0.01, v)) - lo) / (hi - lo || 1)) * (W - L - R);
  const yMax = niceMax(Math.max(...buckets.map((b) => b[1])));
  const y = (v: number): number => T + (1 - v / yMax) * (H - T - B);
  let prev = buckets[0]![0] / 1.05;
  for (const [edge, count] of buckets) {
    const x0 = x(Math.max(prev, edge / 1.05));
    const x1 = x(edge);
    parts.push(
      `<rect x="${x0.toFixed(1)}" y="${y(count).toFixed(1)}" width="${Math.max(1, x1 - x0).toFixed(1)}" height="${(H - B - y(count)).toFixed(1)}" fill="#3b82f6"><title>≤ ${edge} ${o.unit}: ${count}</title></rect>`,
    );
    prev = edge;
  }
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) {
    const v = 10 ** e;
    parts.push(
      `<line x1="${x(v).toFixed(1)}" x2="${x(v).toFixed(1)}" y1="${T}" y2="${H - B}" stroke="#e5e7eb"/><text x="${x(v).toFixed(1)}" y="${H - B + 14}" font-size="10" text-anchor="middle" fill="#6b7280">${fmtNum(v)} ${o.unit}</text>`,
    );
  }
  for (const m of o.markers ?? []) {
    if (!Number.isFinite(m.at)) continue;
    parts.push(
      `<line x1="${x(m.at).toFixed(1)}" x2="${x(m.at).toFixed(1)}" y1="${T}" y2="${H - B}" stroke="#dc2626" stroke-dasharray="3 3"/><text x="${(x(m.at) + 3).toFixed(1)}" y="${T + 10}" font-size="10" fill="#dc2626">${esc(m.label)}</text>`,
    );
  }
  parts.push(
    `<text x="${L - 6}" y="${T + 4}" font-size="10" text-anchor="end" fill="#6b7280">${fmtNum(yMax)}</text></svg>`,
  );
  return parts.join('');
}

/** Horizontal bars: one per item, value in ms; null values drawn as "not drained". */
export function barChart(
  items: Array<{ label: string; value: number | null }>,
  o: { width?: number; title: string; unit: string; empty?: string },
): string {
  const W = o.width ?? 760;
  const row = 22;
  const L = 230;
  const T = 28;
  const H = T + Math.max(1, items.length) * row + 10;
  const max = niceMax(Math.max(1, ...items.map((i) => i.value ?? 0)));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">`,
    `<text x="8" y="16" font-size="13" font-weight="600">${esc(o.title)}</text>`,
  ];
  if (items.length === 0)
    parts.push(`<text x="8" y="${T + 14}" fill="#6b7280" font-size="12">${esc(o.empty ?? 'nothing to show')}</text>`);
  items.forEach((it, k) => {
    const yy = T + k * row;
    parts.push(`<text x="${L - 8}" y="${yy + 14}" font-size="11" text-anchor="end">${esc(it.label)}</text>`);
    if (it.value === null) {
      parts.push(`<text x="${L}" y="${yy + 14}" font-size="11" fill="#dc2626">not drained within the timeout</text>`);
    } else {
      const w = Math.max(1, (it.value / max) * (W - L - 90));
      parts.push(
        `<rect x="${L}" y="${yy + 3}" width="${w.toFixed(1)}" height="${row - 8}" fill="#10b981"/><text x="${(L + w + 6).toFixed(1)}" y="${yy + 14}" font-size="11">${fmtNum(it.value)} ${o.unit}</text>`,
      );
    }
  });
  parts.push('</svg>');
  return parts.join('');
}
