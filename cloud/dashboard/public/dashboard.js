// edgeloop dashboard: renders /api/stream snapshots (Server-Sent Events), falls back to polling /api/snapshot.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const fmt = (v, d = 0) =>
    v === null || v === undefined || Number.isNaN(v)
      ? '–'
      : Number(v).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const ago = (ms) =>
    ms === null
      ? 'never'
      : ms < 1500
        ? 'now'
        : ms < 60000
          ? `${Math.round(ms / 1000)} s ago`
          : `${Math.round(ms / 60000)} min ago`;
  const esc = (s) =>
    String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  const clock = (t) => new Date(t).toLocaleTimeString('en-GB', { hour12: false });

  /** 1, 2 or 5 times a power of ten: a step that gives about `n` intervals up to `max` */
  function niceStep(max, n) {
    const raw = max / n;
    const p = 10 ** Math.floor(Math.log10(raw));
    const m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  let last;
  /** The throughput chart, drawn at the element's own pixel size (text is never stretched): a time axis in local
   * clock time every 15 s and a value axis with round gridlines. values[i] is the second ending at now - (n-1-i) s. */
  function chart(values, now) {
    const svg = $('chart');
    const box = svg.getBoundingClientRect();
    const W = Math.max(200, Math.round(box.width));
    const H = Math.max(100, Math.round(box.height));
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    const L = 44,
      R = 8,
      T = 8,
      B = 20;
    const n = values.length;
    const max = Math.max(1, ...values);
    const step = niceStep(max, 3);
    const top = Math.ceil(max / step) * step;
    const x = (i) => L + (n <= 1 ? 0 : (i / (n - 1)) * (W - L - R));
    const y = (v) => T + (1 - v / top) * (H - T - B);
    let out = '';
    for (let v = 0; v <= top + step / 2; v += step) {
      out +=
        `<line class="grid" x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/>` +
        `<text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${fmt(v, step < 1 ? 1 : 0)}</text>`;
    }
    const end = Math.floor(now / 1000) * 1000;
    const tOf = (i) => end - (n - 1 - i) * 1000;
    for (let i = 0; i < n; i++) {
      if (Math.floor(tOf(i) / 1000) % 15 !== 0) continue;
      const xi = x(i);
      if (xi < L + 24 || xi > W - R - 24) continue;
      out +=
        `<line class="grid" x1="${xi.toFixed(1)}" x2="${xi.toFixed(1)}" y1="${T}" y2="${H - B}"/>` +
        `<text class="tick" x="${xi.toFixed(1)}" y="${H - 5}" text-anchor="middle">${clock(tOf(i))}</text>`;
    }
    if (n > 1) {
      const pts = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      out += `<polygon class="area" points="${x(0).toFixed(1)},${y(0)} ${pts} ${x(n - 1).toFixed(1)},${y(0)}"/>`;
      out += `<polyline class="line" points="${pts}"/>`;
    }
    svg.innerHTML = out;
    svg.dataset.max = String(top);
  }

  // fleet table: sorting, filtering, selection (kept in the URL hash so a device view can be linked)
  const sort = { key: 'deviceId', dir: 1 };
  const HEALTH_ORDER = { error: 0, offline: 1, backlog: 2, stale: 3, unknown: 4, ok: 5 };
  const sortValue = (d, key) => {
    if (key === 'recommendation') return d.recommendations[0] ? d.recommendations[0].item : null;
    if (key === 'health') return HEALTH_ORDER[d.health] ?? 9;
    if (key === 'lastSeenMs') return d.lastSeenMs === null ? Infinity : d.lastSeenMs;
    return d[key];
  };
  function compare(a, b) {
    const va = sortValue(a, sort.key);
    const vb = sortValue(b, sort.key);
    if (va === vb) return a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0;
    if (va === null || va === undefined) return 1; // missing values last, whatever the direction
    if (vb === null || vb === undefined) return -1;
    return (
      (typeof va === 'number' && typeof vb === 'number'
        ? va - vb
        : String(va).localeCompare(String(vb), 'en', { numeric: true })) * sort.dir
    );
  }
  let selected = decodeURIComponent((location.hash.match(/^#device=(.+)$/) || [])[1] || '') || null;

  function renderFleet(devices) {
    const q = $('filter').value.trim().toLowerCase();
    const h = $('health-filter').value;
    const shown = devices
      .filter((d) => (!q || d.deviceId.toLowerCase().includes(q)) && (!h || d.health === h))
      .sort(compare);
    $('fleet-count').textContent =
      shown.length === devices.length ? `${devices.length} devices` : `${shown.length} of ${devices.length} devices`;
    $('fleet').tBodies[0].innerHTML =
      shown
        .map((d) => {
          const rec = d.recommendations[0];
          return (
            `<tr data-device="${esc(d.deviceId)}"${d.deviceId === selected ? ' class="sel"' : ''}><td>${esc(d.deviceId)}</td><td><span class="h h-${d.health}">${d.health}</span></td>` +
            `<td>${ago(d.lastSeenMs)}</td><td class="num">${fmt(d.readings)}</td><td class="num opt">${d.latencyMs === null ? '–' : `${fmt(d.latencyMs, 1)} ms`}</td>` +
            `<td class="num opt">${d.outboxDepth === null ? '–' : fmt(d.outboxDepth)}</td><td class="num">${fmt(d.anomalies)}</td>` +
            `<td class="opt">${rec ? `${esc(rec.item)}${rec.score !== undefined && rec.score !== null ? ` (${fmt(rec.score, 2)})` : ''}` : '–'}</td></tr>`
          );
        })
        .join('') ||
      `<tr><td colspan="8">${devices.length ? 'no device matches the filter' : 'no devices yet'}</td></tr>`;
  }

  function renderDetail(devices) {
    const d = selected && devices.find((x) => x.deviceId === selected);
    $('detail').hidden = !d;
    if (!d) return;
    $('d-id').textContent = d.deviceId;
    const facts = [
      ['health', d.health],
      ['last seen', ago(d.lastSeenMs)],
      ['readings', fmt(d.readings)],
      ['messages', fmt(d.messages)],
      ['last seq', fmt(d.lastSeq)],
      ['latency', d.latencyMs === null ? '–' : `${fmt(d.latencyMs, 1)} ms`],
      ['outbox', d.outboxDepth === null ? '–' : fmt(d.outboxDepth)],
      ['anomalies', fmt(d.anomalies)],
      ['models', d.models.length ? d.models.join(', ') : '–'],
      ['last error', d.lastError ?? '–'],
    ];
    $('d-facts').innerHTML = facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('');
    const vals = Object.entries(d.values).sort(([a], [b]) => a.localeCompare(b));
    $('d-values').tBodies[0].innerHTML =
      vals.map(([k, v]) => `<tr><td>${esc(k)}</td><td class="num">${fmt(v, 3)}</td></tr>`).join('') ||
      '<tr><td colspan="2">no readings yet</td></tr>';
    $('d-recs').innerHTML =
      d.recommendations
        .map(
          (r) =>
            `<li>${esc(r.item)}${r.score !== undefined && r.score !== null ? ` (${fmt(r.score, 2)})` : ''}${r.reason ? ` — ${esc(r.reason)}` : ''}</li>`,
        )
        .join('') || '<li>none</li>';
  }

  function select(id) {
    selected = id;
    history.replaceState(null, '', id ? `#device=${encodeURIComponent(id)}` : location.pathname);
    if (last) {
      renderFleet(last.devices);
      renderDetail(last.devices);
    }
  }

  function render(s) {
    last = s;
    const t = s.totals;
    $('k-online').textContent = `${fmt(t.online)} / ${fmt(t.devices)}`;
    $('k-devices').textContent = `${fmt(t.healthy)} healthy`;
    $('k-rps').textContent = fmt(t.readingsPerSec);
    $('k-mps').textContent = `${fmt(t.messagesPerSec)} msgs/s · ${fmt(t.readings)} readings total`;
    const l = s.latency.deviceToDashboard;
    $('k-lat').textContent = `${fmt(l.p50, 1)} / ${fmt(l.p99, 1)} ms`;
    $('k-stages').textContent =
      Object.entries(s.latency.stages)
        .map(([k, v]) => `→ ${k} p50 ${fmt(v.p50, 1)} ms`)
        .join(' · ') || 'device time → dashboard';
    $('k-anom').textContent = fmt(t.anomalies);
    $('k-total').textContent = `${s.anomalies.length ? `last ${ago(s.now - s.anomalies[0].receivedAt)}` : 'none yet'}`;
    chart(s.throughput, s.now);
    renderFleet(s.devices);
    renderDetail(s.devices);
    $('feed').innerHTML =
      s.anomalies
        .slice(0, 30)
        .map(
          (a) =>
            `<li><span class="sev-${esc(a.severity)}">${esc(a.severity)}</span> ${esc(a.deviceId)} · ${esc(a.kind)}` +
            `${a.score !== null ? ` score ${fmt(a.score, 3)}${a.threshold !== null ? ` / ${fmt(a.threshold, 3)}` : ''}` : ''}` +
            `${a.sensors.length ? ` · ${esc(a.sensors.join(', '))}` : ''} · ${clock(a.ts)}</li>`,
        )
        .join('') || '<li>no anomalies yet</li>';
    $('parts').innerHTML = Object.entries(s.parts)
      .map(
        ([k, v]) =>
          `<li class="${v.ok ? 'ok' : 'bad'}">${esc(k)}: ${v.ok ? 'running' : 'missing'}${v.detail ? ` — ${esc(v.detail)}` : ''}</li>`,
      )
      .join('');
    $('updated').textContent = `updated ${clock(s.now)}`;
    document.body.dataset.readings = String(t.readings);
  }

  $('fleet').tHead.addEventListener('click', (e) => {
    const th = e.target.closest('th');
    if (!th) return;
    const key = th.dataset.key;
    sort.dir = sort.key === key ? -sort.dir : key === 'deviceId' || key === 'health' ? 1 : -1;
    sort.key = key;
    for (const h of $('fleet').tHead.rows[0].cells) h.removeAttribute('aria-sort');
    th.setAttribute('aria-sort', sort.dir === 1 ? 'ascending' : 'descending');
    if (last) renderFleet(last.devices);
  });
  $('fleet').tBodies[0].addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-device]');
    if (tr) select(tr.dataset.device === selected ? null : tr.dataset.device);
  });
  $('d-close').addEventListener('click', () => select(null));
  for (const id of ['filter', 'health-filter'])
    $(id).addEventListener('input', () => last && renderFleet(last.devices));
  window.addEventListener('resize', () => last && chart(last.throughput, last.now));

  // the RUL panel: shown when the cloud runs the maintenance part (GET /api/maintenance says available)
  function renderRul(m) {
    $('rul-card').hidden = false;
    $('rul-sub').textContent =
      `${m.total} devices by predicted RUL, cycles; bar = p10–p90, tick = RUL, red line = alert horizon (${fmt(m.horizon)} cycles)`;
    const max = Math.max(m.horizon * 2, 1, ...m.devices.map((d) => d.p90 ?? 0));
    const x = (v) => `${Math.max(0, Math.min(100, (100 * Math.max(0, v)) / max)).toFixed(1)}%`;
    $('rul').tBodies[0].innerHTML = m.devices
      .map((d) => {
        if (d.status !== 'ok')
          return `<tr data-rul="${esc(d.deviceId)}"><td>${esc(d.deviceId)}</td><td class="num">–</td><td colspan="2" class="a-off">warming up: ${d.cycles} of ${d.window} cycles</td><td class="num opt">${d.cycles}</td><td class="opt">–</td><td></td></tr>`;
        const lo = Math.max(0, d.p10);
        const band = `<span class="band" style="left:${x(lo)};width:calc(${x(d.p90)} - ${x(lo)})"></span>`;
        const bar = `<span class="bar" role="img" aria-label="RUL ${fmt(d.rul)} cycles, p10 ${fmt(d.p10)}, p90 ${fmt(d.p90)}">${band}<span class="hz" style="left:${x(m.horizon)}"></span><span class="tick" style="left:${x(d.rul)}"></span></span>`;
        const when =
          d.suggestedServiceAt === null
            ? '–'
            : new Date(d.suggestedServiceAt).toLocaleString('en-GB', { hour12: false });
        return `<tr data-rul="${esc(d.deviceId)}" class="${d.alert ? 'alert' : ''}"><td>${esc(d.deviceId)}</td><td class="num rul-v">${fmt(d.rul)}</td><td>${bar}</td><td class="num">${fmt(d.p10)}–${fmt(d.p90)}</td><td class="num opt">${d.cycles}</td><td class="opt">${esc(when)}</td><td>${d.alert ? '<span class="a-on">service</span>' : '<span class="a-off">–</span>'}</td></tr>`;
      })
      .join('');
  }
  const rulTick = () =>
    fetch('/api/maintenance')
      .then((r) => r.json())
      .then((m) => {
        if (m.available) renderRul(m);
        else $('rul-card').hidden = true;
      })
      .catch(() => {});
  void rulTick();
  setInterval(rulTick, 2000);
  // the drift panel: its own request every 5 s (GET /api/drift; 404 = the drift monitors do not run here)
  let driftSubject = null;
  const sci = (p) => (p === undefined || p === null ? '–' : p < 1e-3 ? p.toExponential(1) : fmt(p, 3));
  function histogram(c) {
    const W = 260,
      H = 90,
      B = 14,
      n = c.reference.length;
    const top = Math.max(1e-9, ...c.reference, ...c.recent);
    const bw = W / n;
    let out = '';
    for (let i = 0; i < n; i++) {
      const hr = (c.reference[i] / top) * (H - B - 2);
      const hn = (c.recent[i] / top) * (H - B - 2);
      const x = i * bw;
      out +=
        `<rect class="ref" x="${(x + 1).toFixed(1)}" y="${(H - B - hr).toFixed(1)}" width="${Math.max(1, bw / 2 - 1).toFixed(1)}" height="${hr.toFixed(1)}"/>` +
        `<rect class="rec" x="${(x + bw / 2).toFixed(1)}" y="${(H - B - hn).toFixed(1)}" width="${Math.max(1, bw / 2 - 1).toFixed(1)}" height="${hn.toFixed(1)}"/>`;
    }
    const lo = c.edges[0];
    const hi = c.edges[c.edges.length - 1];
    out +=
      // the first and last bins hold what lies below and above the display range: the labels mark its ends
      `<text x="${bw.toFixed(1)}" y="${H - 2}">${fmt(lo, Math.abs(hi - lo) < 10 ? 2 : 0)}</text>` +
      `<text x="${(W - bw).toFixed(1)}" y="${H - 2}" text-anchor="end">${fmt(hi, Math.abs(hi - lo) < 10 ? 2 : 0)}</text>`;
    return (
      `<div class="hist${c.drifted ? ' drifted' : ''}" data-feature="${esc(c.feature)}"><h4><b>${esc(c.feature)}</b>` +
      `<small>${esc(c.statistic)} ${fmt(c.value, 3)} · p ${sci(c.pValue)} · n ${fmt(c.n)}/${fmt(c.nRef)}${c.drifted ? ' · drift' : ''}</small></h4>` +
      `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="${esc(c.feature)}: reference and recent distributions">${out}</svg></div>`
    );
  }
  function renderDrift(p) {
    $('drift').hidden = false;
    $('drift-sum').textContent =
      `${fmt(p.devices)} devices monitored · ${fmt(p.drifting)} in drift · ` +
      `${p.checkedAt ? `checked ${clock(p.checkedAt)}` : 'not checked yet'} · level ${fmt(p.alpha * 100, 1)} % per check`;
    $('drift-alarms').innerHTML =
      p.alarms
        .map(
          (a) =>
            `<li${a.subject === p.selected ? ' class="sel"' : ''}><button type="button" data-subject="${esc(a.subject)}">${esc(a.subject)}</button> · ${esc(a.monitor)} · since ${clock(a.since)}</li>`,
        )
        .join('') || '<li>none: every monitor within its reference</li>';
    $('drift-events').innerHTML =
      p.events.map((e) => `<li>${clock(e.at)} ${esc(e.type)} · ${esc(e.subject)} · ${esc(e.monitor)}</li>`).join('') ||
      '<li>no state changes yet</li>';
    $('drift-sel').innerHTML = p.selected
      ? `${esc(p.selected)}: reference vs recent <span class="legend"><i class="r"></i>reference<i class="n"></i>recent</span>`
      : 'reference vs recent';
    $('drift-charts').innerHTML = p.charts.map(histogram).join('') || '<p class="legend">no input check yet</p>';
    document.body.dataset.driftChecked = String(p.checkedAt);
  }
  function pollDrift() {
    fetch(`/api/drift${driftSubject ? `?subject=${encodeURIComponent(driftSubject)}` : ''}`)
      .then((r) => (r.ok ? r.json().then(renderDrift) : undefined))
      .catch(() => {});
  }
  $('drift-alarms').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-subject]');
    if (!b) return;
    driftSubject = b.dataset.subject;
    pollDrift();
  });
  // the server says whether the drift monitors run here (<body data-drift>): no request for a panel that is not there
  if (document.body.dataset.drift === 'on') {
    pollDrift();
    setInterval(pollDrift, 5000);
  }

  let pollTimer;
  function poll() {
    $('conn').textContent = 'polling';
    $('conn').className = 'pill poll';
    const tick = () =>
      fetch('/api/snapshot')
        .then((r) => r.json())
        .then(render)
        .catch(() => {});
    void tick();
    pollTimer = setInterval(tick, 2000);
  }

  if ('EventSource' in window) {
    const es = new EventSource('/api/stream');
    es.addEventListener('snapshot', (e) => {
      $('conn').textContent = 'live';
      $('conn').className = 'pill live';
      if (pollTimer) {
        clearInterval(pollTimer);
        pollTimer = undefined;
      }
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
