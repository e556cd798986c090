/** Renders a SimulationReport as one self-contained HTML page with inline SVG charts (no scripts, no CDN). */
import { barChart, histogramChart, lineChart } from './svg-charts.ts';
import type { SimulationReport } from './sim-report.ts';
import { summarize } from './sim-report.ts';

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const num = (x: number | null | undefined, d = 1): string =>
  x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(d);
/** a share as a percentage with its sign, or "n/a" alone when there is nothing to divide (no events, no faults) */
const pct = (x: number | null | undefined, d = 1): string =>
  x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : `${(x * 100).toFixed(d)} %`;

export function renderHtmlReport(r: SimulationReport): string {
  const s = r.throughput.series.series;
  const lines = [
    { name: 'published msgs/s', values: s.published ?? [], color: '#6366f1' },
    { name: 'acked msgs/s', values: s.acked ?? [], color: '#10b981' },
    { name: 'received readings/s', values: s.received ?? [], color: '#f97316' },
  ].filter((l) => l.values.some((v) => v > 0));
  const bands = r.faults.map((f) => ({ from: f.atMs / 1000, to: f.healedAtMs / 1000, label: f.kind }));
  const lat = r.latency.deviceToBroker;
  const a = r.anomalies;
  const perKind = Object.entries(a.perKind)
    .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${v.faults}</td><td>${v.detected}</td></tr>`)
    .join('');
  const truth = r.groundTruth
    .slice(0, 500)
    .map(
      (f) =>
        `<tr><td>${esc(f.deviceId)}</td><td>${esc(f.kind)}</td><td>${esc(f.sensors.join(', '))}</td><td>${new Date(f.start).toISOString().slice(11, 23)}</td><td>${num((f.end - f.start) / 1000)} s</td><td>${esc(f.action ?? '')}</td><td>${esc(f.failureMode ?? '')}</td></tr>`,
    )
    .join('');
  const gaps = r.delivery.perDevice
    .filter((d) => d.missing > 0 || d.duplicates > 0)
    .slice(0, 200)
    .map(
      (d) =>
        `<tr><td>${esc(d.deviceId)}</td><td>${d.expected}</td><td>${d.received}</td><td>${d.missing}</td><td>${d.duplicates}</td><td>${esc(d.gaps.map(([x, y]) => (x === y ? x : `${x}–${y}`)).join(', '))}</td></tr>`,
    )
    .join('');
  const stages = Object.entries(r.latency.stages)
    .map(
      ([k, v]) =>
        `<tr><td>device → ${esc(k)}</td><td>${num(v.p50)}</td><td>${num(v.p95)}</td><td>${num(v.p99)}</td><td>${num(v.max)}</td><td>${v.count}</td></tr>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgeloop sim report — ${esc(r.startedAt)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:820px;color:#111827;padding:0 12px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
table{border-collapse:collapse;width:100%;font-size:12px}td,th{border-bottom:1px solid #f3f4f6;padding:3px 6px;text-align:left}
th{background:#f9fafb}.kpis{display:grid;grid-template-columns:repeat(4,1fr);gap:8px}.kpi{background:#f9fafb;border-radius:6px;padding:8px}
.kpi b{display:block;font-size:18px}.ok{color:#059669}.bad{color:#dc2626}pre{background:#f9fafb;padding:8px;overflow:auto;font-size:12px}
svg{max-width:100%;height:auto}
</style></head><body>
<h1>edgeloop simulation report</h1>
<p>${esc(r.mode)} mode · ${r.fleet.devices} devices · ${r.fleet.connections} connections · ${r.durationSec} s · seed ${esc(r.seed)} · broker ${esc(r.broker)} · ${esc(r.startedAt)}</p>
<div class="kpis">
<div class="kpi">throughput<b>${num(r.throughput.messagesPerSec)} msg/s</b>${num(r.throughput.readingsPerSec)} readings/s</div>
<div class="kpi">latency p99<b>${num(lat.p99)} ms</b>p50 ${num(lat.p50)} ms</div>
<div class="kpi">delivery<b class="${r.delivery.complete ? 'ok' : 'bad'}">${r.delivery.observed ? (r.delivery.complete ? 'complete' : `${r.delivery.missing} missing`) : 'not observed'}</b>${r.delivery.duplicates} duplicates</div>
<div class="kpi">detection<b>P ${pct(a.precision, 0)} · R ${pct(a.recall, 0)}</b>${a.events} events, ${a.faults} faults</div>
</div>
<h2>Throughput over time</h2>
${lineChart(lines, { title: 'per second', yLabel: 'per second', bands })}
<h2>End-to-end latency</h2>
${histogramChart(lat.histogram, {
  title: 'device time → broker (readings)',
  unit: 'ms',
  markers: [
    { at: lat.p50, label: 'p50' },
    { at: lat.p99, label: 'p99' },
  ],
})}
<table><tr><th>stage</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>readings</th></tr>
<tr><td>device → broker</td><td>${num(lat.p50)}</td><td>${num(lat.p95)}</td><td>${num(lat.p99)}</td><td>${num(lat.max)}</td><td>${lat.count}</td></tr>${stages}</table>
<h2>Recovery per fault</h2>
${barChart(
  r.faults.map((f) => ({ label: `${f.kind} @ ${num(f.atMs / 1000)}s`, value: f.drainMs })),
  { title: 'drain time after the fault was healed', unit: 'ms', empty: 'no infrastructure faults in this run' },
)}
<table><tr><th>fault</th><th>at</th><th>healed</th><th>devices</th><th>drain</th><th>peak backlog</th><th>notes</th></tr>
${r.faults.map((f) => `<tr><td>${esc(f.kind)}</td><td>${num(f.atMs / 1000)} s</td><td>${num(f.healedAtMs / 1000)} s</td><td>${f.devicesAffected}</td><td>${f.drainMs === null ? '<span class="bad">not drained</span>' : `${f.drainMs} ms`}</td><td>${f.peakBacklog}</td><td>${esc(f.notes ?? '')}${f.reconnectMs !== undefined ? ` reconnected in ${num(f.reconnectMs, 0)} ms, ${f.refusedConnects} refused` : ''}</td></tr>`).join('')}</table>
<h2>Delivery</h2>
<p>${r.delivery.received} of ${r.delivery.expected} readings received, ${r.delivery.missing} missing on ${r.delivery.devicesWithGaps} devices, ${r.delivery.duplicates} duplicates, ${r.delivery.droppedAtDevice} dropped at devices; drained ${num(r.delivery.drainMs, 0)} ms after publishing stopped.</p>
${gaps ? `<table><tr><th>device</th><th>expected</th><th>received</th><th>missing</th><th>dups</th><th>gaps (seq)</th></tr>${gaps}</table>` : '<p class="ok">No gaps, no duplicates.</p>'}
<h2>Anomaly detection vs ground truth</h2>
<p>${a.events} events, ${a.truePositiveEvents} inside an injected fault (tolerance ${a.toleranceMs} ms): precision ${pct(a.precision)}, recall ${pct(a.recall)} (${a.detectedFaults}/${a.scoredFaults}), mean time to detect ${num(a.meanTimeToDetectMs, 0)} ms.</p>
<table><tr><th>fault kind</th><th>injected</th><th>detected</th></tr>${perKind}</table>
<h2>Ground truth${r.groundTruth.length > 500 ? ' (first 500)' : ''}</h2>
<table><tr><th>device</th><th>kind</th><th>sensors</th><th>start (UTC)</th><th>length</th><th>action</th><th>mode</th></tr>${truth}</table>
<h2>Summary</h2>
<pre>${esc(summarize(r))}</pre>
</body></html>
`;
}
