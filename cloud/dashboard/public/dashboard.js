// edgeloop dashboard: renders /api/stream snapshots (Server-Sent Events), falls back to polling /api/snapshot.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const fmt = (v, d = 0) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Number(v).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
  const ago = (ms) => (ms === null ? 'never' : ms < 1500 ? 'now' : ms < 60000 ? `${Math.round(ms / 1000)} s ago` : `${Math.round(ms / 60000)} min ago`);
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

  function chart(values) {
    const svg = $('chart');
    const W = 600, H = 120, n = Math.max(2, values.length);
    const max = Math.max(1, ...values) * 1.1;
    const pts = values.map((v, i) => `${((i / (n - 1)) * W).toFixed(1)},${(H - (v / max) * (H - 14)).toFixed(1)}`).join(' ');
    svg.innerHTML = `<polyline fill="none" stroke="#2563eb" stroke-width="2" vector-effect="non-scaling-stroke" points="${pts}"/>` +
      `<text x="4" y="12" font-size="11" fill="#64748b">${fmt(max / 1.1)}</text>`;
  }

  function render(s) {
    const t = s.totals;
    $('k-online').textContent = `${fmt(t.online)} / ${fmt(t.devices)}`;
    $('k-devices').textContent = `${fmt(t.healthy)} healthy`;
    $('k-rps').textContent = fmt(t.readingsPerSec);
    $('k-mps').textContent = `${fmt(t.messagesPerSec)} msgs/s · ${fmt(t.readings)} readings total`;
    const l = s.latency.deviceToDashboard;
    $('k-lat').textContent = `${fmt(l.p50, 1)} / ${fmt(l.p99, 1)} ms`;
    $('k-stages').textContent = Object.entries(s.latency.stages).map(([k, v]) => `→ ${k} p50 ${fmt(v.p50, 1)} ms`).join(' · ') || 'device time → dashboard';
    $('k-anom').textContent = fmt(t.anomalies);
    $('k-total').textContent = `${s.anomalies.length ? `last ${ago(s.now - s.anomalies[0].receivedAt)}` : 'none yet'}`;
    chart(s.throughput);
    $('fleet-count').textContent = `${s.devices.length} devices`;
    $('fleet').tBodies[0].innerHTML = s.devices.map((d) => {
      const rec = d.recommendations[0];
      return `<tr data-device="${esc(d.deviceId)}"><td>${esc(d.deviceId)}</td><td><span class="h h-${d.health}">${d.health}</span></td>` +
        `<td>${ago(d.lastSeenMs)}</td><td>${fmt(d.readings)}</td><td>${d.latencyMs === null ? '–' : `${fmt(d.latencyMs, 1)} ms`}</td>` +
        `<td>${d.outboxDepth === null ? '–' : fmt(d.outboxDepth)}</td><td>${fmt(d.anomalies)}</td>` +
        `<td>${rec ? `${esc(rec.item)}${rec.score !== undefined && rec.score !== null ? ` (${fmt(rec.score, 2)})` : ''}` : '–'}</td></tr>`;
    }).join('');
    $('feed').innerHTML = s.anomalies.slice(0, 30).map((a) =>
      `<li><span class="sev-${esc(a.severity)}">${esc(a.severity)}</span> ${esc(a.deviceId)} · ${esc(a.kind)}` +
      `${a.score !== null ? ` score ${fmt(a.score, 3)}${a.threshold !== null ? ` / ${fmt(a.threshold, 3)}` : ''}` : ''}` +
      `${a.sensors.length ? ` · ${esc(a.sensors.join(', '))}` : ''} · ${new Date(a.ts).toLocaleTimeString()}</li>`).join('') || '<li>no anomalies yet</li>';
    $('parts').innerHTML = Object.entries(s.parts).map(([k, v]) => `<li class="${v.ok ? 'ok' : 'bad'}">${esc(k)}: ${v.ok ? 'running' : 'missing'}${v.detail ? ` — ${esc(v.detail)}` : ''}</li>`).join('');
    $('updated').textContent = `updated ${new Date(s.now).toLocaleTimeString()}`;
    document.body.dataset.readings = String(t.readings);
  }

  let pollTimer;
  function poll() {
    $('conn').textContent = 'polling';
    $('conn').className = 'pill poll';
    const tick = () => fetch('/api/snapshot').then((r) => r.json()).then(render).catch(() => {});
    tick();
    pollTimer = setInterval(tick, 2000);
  }

  if ('EventSource' in window) {
    const es = new EventSource('/api/stream');
    es.addEventListener('snapshot', (e) => {
      $('conn').textContent = 'live';
      $('conn').className = 'pill live';
      if (pollTimer) { clearInterval(pollTimer); pollTimer = undefined; }
      render(JSON.parse(e.data));
    });
    es.onerror = () => {
      $('conn').textContent = 'reconnecting…';
      $('conn').className = 'pill';
      if (!pollTimer && es.readyState === EventSource.CLOSED) poll();
    };
  } else {
    poll();
  }
})();
