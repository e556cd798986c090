// edgeloop fleet reports: draws the warehouse's site-trend and model-impact reports (/v1/reports/...) as SVG charts
// at each chart's own pixel size (text is never stretched), and lists fleet health.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const esc = (s) =>
    String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  const num = (v, d = 0) =>
    v === null || v === undefined
      ? '–'
      : Number(v).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const pct = (v) =>
    v === null || v === undefined ? '–' : v === 0 ? '0 %' : `${(v * 100).toFixed(v < 0.01 ? 2 : 1)} %`;
  const COLORS = ['#2563eb', '#d97706', '#059669', '#dc2626', '#7c3aed', '#0891b2', '#be185d', '#4d7c0f'];
  const METRICS = { anomaly_rate: pct, readings: (v) => num(v), uptime: pct, completeness: pct };

  /** 1, 2 or 5 times a power of ten: a step that gives about `n` intervals up to `max` */
  function niceStep(max, n) {
    const raw = max / n;
    const p = 10 ** Math.floor(Math.log10(raw));
    const m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  /** the chart's pixel size, set as its viewBox: one user unit = one pixel */
  function size(svg) {
    const box = svg.getBoundingClientRect();
    const W = Math.max(200, Math.round(box.width));
    const H = Math.max(120, Math.round(box.height));
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    return { W, H };
  }

  /** horizontal gridlines with value labels (the y axis) from 0 to a round top above `max` */
  function valueAxis(max, y, L, W, R, label) {
    const step = niceStep(max > 0 ? max : 1, 4);
    const top = Math.ceil((max > 0 ? max : 1) / step) * step;
    let out = '';
    for (let v = 0; v <= top + step / 2; v += step) {
      const yy = y(v, top).toFixed(1);
      out += `<line class="grid" x1="${L}" x2="${W - R}" y1="${yy}" y2="${yy}"/><text class="ytick" x="${L - 6}" y="${(Number(yy) + 4).toFixed(1)}" text-anchor="end">${label(v)}</text>`;
    }
    return { out, top };
  }

  let trendRows = [];
  let modelRows = [];

  /** one line per site over its days; x: the UTC days of the report, y: the chosen metric */
  function drawTrend() {
    const svg = $('trend');
    const metric = $('trend-metric').value;
    const site = $('trend-site').value;
    const rows = trendRows.filter((r) => !site || r.site === site);
    const { W, H } = size(svg);
    const days = [...new Set(rows.map((r) => r.day))].sort();
    const sites = [...new Set(rows.map((r) => r.site))].sort();
    if (days.length === 0) {
      svg.innerHTML = `<text class="empty" x="${W / 2}" y="${H / 2}" text-anchor="middle">no data for this selection</text>`;
      $('trend-legend').innerHTML = '';
      return;
    }
    const L = 64,
      R = 16,
      T = 10,
      B = 24;
    const max = Math.max(0, ...rows.map((r) => Number(r[metric] ?? 0)));
    // the first and last day sit half a label (about 36 px) inside the plot, so their labels are not cut off
    const inset = 36;
    const x = (i) =>
      days.length === 1 ? (L + W - R) / 2 : L + inset + (i / (days.length - 1)) * (W - L - R - 2 * inset);
    const y = (v, top) => T + (1 - v / top) * (H - T - B);
    const axis = valueAxis(max, y, L, W, R, METRICS[metric]);
    let out = axis.out + `<line class="axis" x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}"/>`;
    // a day label wherever there is room (about 80 px each)
    const every = Math.max(1, Math.ceil(days.length / Math.max(1, Math.floor((W - L - R) / 80))));
    days.forEach((d, i) => {
      if (i % every === 0)
        out += `<text class="xtick" x="${x(i).toFixed(1)}" y="${H - 6}" text-anchor="middle">${esc(d)}</text>`;
    });
    sites.forEach((s, k) => {
      const color = COLORS[k % COLORS.length];
      const pts = rows
        .filter((r) => r.site === s)
        .map((r) => ({ i: days.indexOf(r.day), v: Number(r[metric] ?? 0), r }));
      if (pts.length > 1)
        out += `<polyline class="line" stroke="${color}" points="${pts.map((p) => `${x(p.i).toFixed(1)},${y(p.v, axis.top).toFixed(1)}`).join(' ')}"/>`;
      for (const p of pts) {
        out += `<circle class="point" data-site="${esc(s)}" data-day="${esc(p.r.day)}" cx="${x(p.i).toFixed(1)}" cy="${y(p.v, axis.top).toFixed(1)}" r="3.5" fill="${color}"><title>${esc(s)} ${esc(p.r.day)}: ${METRICS[metric](p.v)}</title></circle>`;
      }
    });
    svg.innerHTML = out;
    $('trend-legend').innerHTML = sites
      .map((s, k) => `<li><i style="background:${COLORS[k % COLORS.length]}"></i>${esc(s)}</li>`)
      .join('');
  }

  /** one bar per model version: its anomaly rate */
  function drawModels() {
    const svg = $('models');
    const { W, H } = size(svg);
    if (modelRows.length === 0) {
      svg.innerHTML = `<text class="empty" x="${W / 2}" y="${H / 2}" text-anchor="middle">no model versions yet</text>`;
      return;
    }
    const L = 64,
      R = 16,
      T = 10,
      B = 24;
    const max = Math.max(0, ...modelRows.map((r) => Number(r.anomaly_rate ?? 0)));
    const y = (v, top) => T + (1 - v / top) * (H - T - B);
    const axis = valueAxis(max, y, L, W, R, pct);
    const band = (W - L - R) / modelRows.length;
    const bw = Math.max(4, Math.min(64, band * 0.6));
    let out = axis.out + `<line class="axis" x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}"/>`;
    modelRows.forEach((r, i) => {
      const cx = L + band * (i + 0.5);
      const top = y(Number(r.anomaly_rate ?? 0), axis.top);
      const label = `${r.model_name}@${r.model_version}`;
      out += `<rect class="bar" data-version="${esc(label)}" x="${(cx - bw / 2).toFixed(1)}" y="${top.toFixed(1)}" width="${bw.toFixed(1)}" height="${(H - B - top).toFixed(1)}"><title>${esc(label)}: ${pct(r.anomaly_rate)} of ${num(r.readings)} readings</title></rect>`;
      out += `<text class="xtick" x="${cx.toFixed(1)}" y="${H - 6}" text-anchor="middle">${esc(label.length * 6.5 > band ? r.model_version : label)}</text>`;
    });
    svg.innerHTML = out;
  }

  async function get(path) {
    const res = await fetch(path, { headers: { accept: 'application/json' } });
    const body = await res.json();
    if (!res.ok) throw new Error(`${path}: ${body.error ? `${body.error.code}: ${body.error.message}` : res.status}`);
    return body;
  }

  async function load() {
    const [health, trend, models, fleet] = await Promise.all([
      get('/healthz'),
      get('/v1/reports/site-trend'),
      get('/v1/reports/model-impact'),
      get('/v1/reports/fleet-health'),
    ]);
    $('refreshed').textContent = health.refreshedAt
      ? `refreshed ${health.refreshedAt.replace('T', ' ').slice(0, 16)} UTC`
      : 'never refreshed';
    trendRows = trend.rows;
    modelRows = models.rows;
    const sites = [...new Set(trendRows.map((r) => r.site))].sort();
    $('trend-site').innerHTML =
      '<option value="">all sites</option>' + sites.map((s) => `<option>${esc(s)}</option>`).join('');
    $('model-table').tBodies[0].innerHTML = modelRows
      .map(
        (r) =>
          `<tr><td>${esc(r.model_name)}</td><td>${esc(r.model_version)}</td><td class="num">${num(r.devices)}</td><td class="num">${num(r.readings)}</td><td class="num">${num(r.anomalies)}</td><td class="num">${pct(r.anomaly_rate)}</td></tr>`,
      )
      .join('');
    $('fleet').tBodies[0].innerHTML = fleet.rows
      .map(
        (r) =>
          `<tr><td>${esc(r.device_id)}</td><td>${esc(r.site ?? '–')}</td><td>${esc(r.model_name ? `${r.model_name}@${r.model_version}` : '–')}</td><td class="num">${num(r.readings)}</td><td class="num">${pct(r.anomaly_rate)}</td><td class="num opt">${pct(r.uptime)}</td><td class="num opt">${pct(r.completeness)}</td><td class="opt">${esc(r.last_reading ? r.last_reading.replace('T', ' ').slice(0, 19) : '–')}</td></tr>`,
      )
      .join('');
    drawTrend();
    drawModels();
    $('status').textContent =
      `${trendRows.length} site-days, ${modelRows.length} model versions, ${fleet.rows.length} devices`;
    document.body.dataset.loaded = 'true';
  }

  $('trend-site').addEventListener('change', drawTrend);
  $('trend-metric').addEventListener('change', drawTrend);
  window.addEventListener('resize', () => {
    drawTrend();
    drawModels();
  });
  load().catch((err) => {
    $('status').innerHTML = `<span class="bad">${esc(err.message)}</span>`;
    document.body.dataset.loaded = 'error';
  });
})();
