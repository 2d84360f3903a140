// SPDX-License-Identifier: MIT
//
// The candlekeep dashboard. A static page that reads the daemon's JSON
// endpoints (the ones every client reads) and redraws its panels every few
// seconds. No framework and no third-party code: the candle chart is drawn
// on a canvas by hand, with the gap ledger's bands laid over it as
// elements.
//
// Rules this file keeps:
//   - prices are shown as the API sends them (strings), never re-rounded;
//     numbers are parsed only to place a candle on the canvas;
//   - the time axis is linear in time, so a missing stretch of candles is
//     an empty stretch of chart (and a gap band when the ledger has one);
//   - text from the API goes into the page with textContent only;
//   - the API token is typed in here and kept in this tab's sessionStorage;
//     the page never holds it otherwise, and sends it only with POSTs.
'use strict';

(function () {
  const TOKEN_KEY = 'candlekeep.token';
  const PERIOD = { M1: 60, M5: 300, M15: 900, M30: 1800, H1: 3600, H4: 14400, D1: 86400, W1: 604800 };
  const HISTORY = 5000; // candles loaded for a series (the API's largest page)
  const PLOT = { top: 10, bottom: 24, right: 78 };

  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(window.location.search);

  const state = {
    health: null,
    series: [],       // [{source, symbol, timeframes: [...]}]
    seriesSig: '',
    source: params.get('source'),
    symbol: params.get('symbol'),
    tf: params.get('tf'),
    candles: [],      // oldest first: {t, o, h, l, c, v, raw}
    gaps: [],
    view: null,       // [t0, t1] Unix s, null: everything loaded
    loadedKey: '',
    refreshSec: 5,
    timer: 0,
    firstDraw: true,
  };

  // ---- small helpers ----

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function cell(tr, text, cls) {
    const td = el('td', text === null || text === undefined || text === '' ? '\u2014' : text, cls);
    tr.appendChild(td);
    return td;
  }

  function emptyRow(tbody, cols, text) {
    const tr = el('tr');
    const td = el('td', text, 'empty');
    td.colSpan = cols;
    tr.appendChild(td);
    tbody.appendChild(tr);
  }

  function showError(id, msg) {
    const e = $(id);
    if (!e) return;
    e.hidden = !msg;
    e.textContent = msg || '';
  }

  function parseTime(s) {
    if (!s) return null;
    const ms = Date.parse(s);
    return Number.isNaN(ms) ? null : ms / 1000;
  }

  function fmtDuration(sec) {
    if (sec === null || sec === undefined) return '';
    sec = Math.round(sec);
    if (sec < 0) sec = 0;
    if (sec < 60) return sec + ' s';
    if (sec < 3600) return Math.floor(sec / 60) + ' m ' + (sec % 60) + ' s';
    if (sec < 86400) return Math.floor(sec / 3600) + ' h ' + Math.floor((sec % 3600) / 60) + ' m';
    return Math.floor(sec / 86400) + ' d ' + Math.floor((sec % 86400) / 3600) + ' h';
  }

  function ago(iso) {
    const t = parseTime(iso);
    if (t === null) return '';
    const d = Date.now() / 1000 - t;
    return d >= 0 ? fmtDuration(d) + ' ago' : 'in ' + fmtDuration(-d);
  }

  function when(iso) {
    return iso ? iso + ' (' + ago(iso) + ')' : '';
  }

  function isoShort(t) {
    return new Date(t * 1000).toISOString().replace('.000Z', 'Z');
  }

  async function getJSON(path) {
    const r = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    let body = null;
    try {
      body = await r.json();
    } catch (e) {
      body = null;
    }
    return { status: r.status, ok: r.ok, body: body };
  }

  function apiError(res, what) {
    const b = res.body || {};
    return what + ': HTTP ' + res.status + (b.error ? ' \u2014 ' + b.error : '') +
      (b.detail ? ' (' + b.detail + ')' : '');
  }

  function addFact(dl, name, value, cls) {
    const d = el('div');
    d.appendChild(el('dt', name));
    d.appendChild(el('dd', value === null || value === undefined || value === '' ? '\u2014' : value, cls));
    dl.appendChild(d);
  }

  // ---- health header ----

  function renderHealth(res) {
    const h = res.body;
    const badge = $('health-status');
    if (!h || typeof h !== 'object' || !h.status) {
      badge.textContent = 'no answer';
      badge.className = 'badge unavailable';
      showError('health-error', apiError(res, 'GET /health'));
      return;
    }
    showError('health-error', '');
    state.health = h;
    badge.textContent = h.status;
    badge.className = 'badge ' + h.status;
    const jobs = h.jobs || {};
    $('health-summary').textContent = (jobs.count || 0) + ' jobs, ' + (jobs.failing || 0) +
      ' failing, ' + (jobs.overdue || 0) + ' late, ' + (jobs.paused || 0) + ' paused';

    const dl = $('health-facts');
    dl.replaceChildren();
    const db = h.database || {};
    addFact(dl, 'version', h.version);
    addFact(dl, 'instance', h.instance);
    addFact(dl, 'uptime', fmtDuration(h.uptime_seconds));
    addFact(dl, 'database', (db.reachable ? 'reachable' : 'unreachable') +
      (db.backend ? ' (' + db.backend + ')' : '') + (db.error ? ': ' + db.error : ''),
      db.reachable ? 'state-ok' : 'state-failing');
    addFact(dl, 'scheduler', h.scheduler && h.scheduler.running ? 'running' : 'stopped',
      h.scheduler && h.scheduler.running ? 'state-ok' : 'state-failing');
    addFact(dl, 'daemons', (h.daemons || []).join(', ') || 'none');
    let gaps = 0;
    (h.series || []).forEach((s) => { gaps += s.open_gaps || 0; });
    addFact(dl, 'open gaps', gaps, gaps ? 'state-failing' : 'state-ok');
    renderHost(h.host || h.system);
    renderProviders(h.providers || []);
    renderSeriesTable(h.series || []);
    updateSeriesChoices(h.series || []);
  }

  function bar(name, part) {
    // A part is a percentage or {percent|value, threshold}.
    const pct = typeof part === 'number' ? part : (part && (part.percent ?? part.value));
    if (typeof pct !== 'number') return null;
    const limit = part && typeof part === 'object' ? part.threshold : undefined;
    const box = el('div', null, 'bar');
    box.appendChild(el('div', name + ' ' + pct.toFixed(1) + '%' +
      (typeof limit === 'number' ? ' (limit ' + limit + '%)' : '')));
    const track = el('div', null, 'bar-track');
    const fill = el('div', null, 'bar-fill' + (typeof limit === 'number' && pct >= limit ? ' over' : ''));
    fill.style.width = Math.max(0, Math.min(100, pct)) + '%';
    track.appendChild(fill);
    if (typeof limit === 'number') {
      const mark = el('div', null, 'bar-mark');
      mark.style.left = Math.max(0, Math.min(100, limit)) + '%';
      track.appendChild(mark);
    }
    box.appendChild(track);
    return box;
  }

  function renderHost(host) {
    const box = $('host');
    box.replaceChildren();
    if (!host || typeof host !== 'object') {
      box.appendChild(el('span', 'Host health (score, CPU, memory, disk): not available from this daemon',
        'not-available'));
      return;
    }
    if (host.score !== undefined) {
      const s = el('div');
      s.appendChild(el('strong', 'score ' + host.score + '/100'));
      const ded = host.deductions || [];
      if (ded.length) {
        s.appendChild(el('span', ' \u2014 ' + ded.map((d) => (typeof d === 'string' ? d
          : (d.reason || d.part || '') + (d.points !== undefined ? ' \u2212' + d.points : ''))).join('; '),
        'muted'));
      }
      box.appendChild(s);
    }
    ['cpu', 'memory', 'disk'].forEach((k) => {
      const b = bar(k, host[k]);
      if (b) box.appendChild(b);
    });
    const fc = host.disk_full_forecast ?? (host.disk && host.disk.full_at);
    if (fc !== undefined) box.appendChild(el('div', 'disk full: ' + (fc === null ? 'not foreseen' : fc)));
  }

  // ---- providers and series ----

  function renderProviders(list) {
    const tbody = $('providers-table').tBodies[0];
    tbody.replaceChildren();
    if (!list.length) {
      emptyRow(tbody, 6, 'no providers configured');
      return;
    }
    list.forEach((p) => {
      const tr = el('tr');
      cell(tr, p.source);
      const c = p.circuit || {};
      let circ = c.state || 'unknown';
      if (c.state === 'open' && c.next_probe_seconds !== undefined) circ += ', probe in ' + fmtDuration(c.next_probe_seconds);
      if (c.failures) circ += ', ' + c.failures + ' failures';
      cell(tr, circ, 'state-' + (c.state || 'unknown'));
      const cr = p.credits || {};
      const fmtCredits = (w) => (w ? w.used + ' / ' + (w.limit === null || w.limit === undefined ? '\u221e' : w.limit) : '');
      cell(tr, fmtCredits(cr.minute), 'num');
      cell(tr, fmtCredits(cr.day), 'num');
      cell(tr, p.ban ? 'until ' + p.ban.until + ' (' + p.ban.reason + ')' : 'none', p.ban ? 'state-failing' : '');
      const held = [];
      if ((p.deferred || []).length) held.push(p.deferred.length + ' deferred');
      if ((p.skipped || []).length) held.push(p.skipped.length + ' skipped');
      if ((p.failing || []).length) held.push(p.failing.length + ' failing');
      cell(tr, held.join(', ') || 'none');
      tbody.appendChild(tr);
    });
  }

  function renderSeriesTable(list) {
    const tbody = $('series-table').tBodies[0];
    tbody.replaceChildren();
    if (!list.length) {
      emptyRow(tbody, 5, 'no series');
      return;
    }
    list.forEach((s) => {
      const tr = el('tr');
      cell(tr, s.source + ' ' + s.symbol + ' ' + s.timeframe);
      cell(tr, s.latest);
      cell(tr, s.age_seconds === null ? '' : fmtDuration(s.age_seconds), 'num');
      cell(tr, s.missing_periods, 'num');
      cell(tr, s.open_gaps, 'num' + (s.open_gaps ? ' state-failing' : ''));
      tbody.appendChild(tr);
    });
  }

  // ---- series choice ----

  function updateSeriesChoices(list) {
    const map = new Map();
    list.forEach((s) => {
      const k = s.source + '\u0000' + s.symbol;
      if (!map.has(k)) map.set(k, { source: s.source, symbol: s.symbol, timeframes: [] });
      map.get(k).timeframes.push(s.timeframe);
    });
    const series = Array.from(map.values());
    // Rebuilt only when the configured series change, so a choice being made is left alone.
    const sig = JSON.stringify(series);
    if (sig === state.seriesSig) return;
    state.seriesSig = sig;
    state.series = series;
    if (!series.length) return;
    let cur = series.find((s) => s.source === state.source && s.symbol === state.symbol);
    if (!cur && state.source === null && state.symbol === null) cur = series[0];
    if (!cur && state.symbol) cur = series.find((s) => s.symbol === state.symbol);
    if (!cur) {
      // A series named in the URL that is not configured: still offered.
      cur = { source: state.source || series[0].source, symbol: state.symbol || series[0].symbol,
        timeframes: [state.tf || 'H1'] };
      series.push(cur);
    }
    state.source = cur.source;
    state.symbol = cur.symbol;
    const sel = $('series-select');
    sel.replaceChildren();
    series.forEach((s, i) => {
      const o = el('option', s.source + ' \u00b7 ' + s.symbol);
      o.value = String(i);
      if (s === cur) o.selected = true;
      sel.appendChild(o);
    });
    fillTimeframes(cur);
  }

  function fillTimeframes(cur) {
    const sel = $('tf-select');
    sel.replaceChildren();
    const tfs = cur.timeframes.slice().sort((a, b) => (PERIOD[a] || 0) - (PERIOD[b] || 0));
    if (!state.tf || !tfs.includes(state.tf)) state.tf = tfs[0];
    tfs.forEach((tf) => {
      const o = el('option', tf);
      o.value = tf;
      if (tf === state.tf) o.selected = true;
      sel.appendChild(o);
    });
  }

  function syncUrl() {
    const p = new URLSearchParams(window.location.search);
    p.set('source', state.source);
    p.set('symbol', state.symbol);
    p.set('tf', state.tf);
    window.history.replaceState(null, '', window.location.pathname + '?' + p.toString());
  }

  // ---- candles ----

  function seriesQuery() {
    return 'source=' + encodeURIComponent(state.source) + '&symbol=' + encodeURIComponent(state.symbol);
  }

  function toCandle(c) {
    return {
      t: parseTime(c.time), o: parseFloat(c.open), h: parseFloat(c.high), l: parseFloat(c.low),
      c: parseFloat(c.close), v: c.volume === null || c.volume === undefined ? null : parseFloat(c.volume), raw: c,
    };
  }

  async function loadCandles() {
    if (!state.source || !state.symbol || !state.tf) return;
    const key = state.source + '\u0000' + state.symbol + '\u0000' + state.tf;
    const fresh = key !== state.loadedKey;
    const limit = fresh ? HISTORY : 100;
    const [cr, gr] = await Promise.all([
      getJSON('/candles/' + encodeURIComponent(state.tf) + '?' + seriesQuery() + '&limit=' + limit),
      getJSON('/candles/' + encodeURIComponent(state.tf) + '/gaps?' + seriesQuery() + '&days=36500&limit=5000'),
    ]);
    if (!cr.ok || !cr.body) {
      showError('chart-error', apiError(cr, 'candles'));
      return;
    }
    showError('chart-error', gr.ok ? '' : apiError(gr, 'gap ledger'));
    const got = (cr.body.candles || []).map(toCandle).reverse();
    if (fresh) {
      state.candles = got;
      state.view = null;
      state.loadedKey = key;
    } else if (got.length) {
      // Merge the newest page into what is loaded (a corrected candle replaces the old one).
      const first = got[0].t;
      let i = state.candles.length;
      while (i > 0 && state.candles[i - 1].t >= first) i--;
      const follow = state.view && state.candles.length &&
        state.view[1] >= state.candles[state.candles.length - 1].t;
      state.candles = state.candles.slice(0, i).concat(got);
      if (follow) {
        const span = state.view[1] - state.view[0];
        const end = state.candles[state.candles.length - 1].t + (PERIOD[state.tf] || 60);
        state.view = [end - span, end];
      }
    }
    if (gr.ok && gr.body) state.gaps = gr.body.gaps || [];
    renderGapTable();
    draw();
  }

  function fullRange() {
    const p = PERIOD[state.tf] || 60;
    const cs = state.candles;
    if (!cs.length) {
      const now = Date.now() / 1000;
      return [now - 100 * p, now];
    }
    let t0 = cs[0].t;
    let t1 = cs[cs.length - 1].t + p;
    // Bands of ledger gaps just past the loaded candles stay in view.
    state.gaps.forEach((g) => {
      const a = parseTime(g.first);
      const b = parseTime(g.last) + p;
      if (b > t1 && a < t1 + 50 * p) t1 = b;
    });
    const pad = (t1 - t0) * 0.02;
    return [t0 - pad, t1 + pad];
  }

  function lowerBound(cs, t) {
    let lo = 0;
    let hi = cs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cs[mid].t < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  function decimalsOf(s) {
    const i = s.indexOf('.');
    return i < 0 ? 0 : s.length - i - 1;
  }

  function draw() {
    const t0ms = performance.now();
    const canvas = $('chart');
    const wrap = $('chart-wrap');
    const W = wrap.clientWidth;
    const H = wrap.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(W * dpr) || canvas.height !== Math.round(H * dpr)) {
      canvas.width = Math.round(W * dpr);
      canvas.height = Math.round(H * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    const pw = W - PLOT.right;
    const ph = H - PLOT.top - PLOT.bottom;
    const [v0, v1] = state.view || fullRange();
    const period = PERIOD[state.tf] || 60;
    const xOf = (t) => ((t - v0) / (v1 - v0)) * pw;
    const cs = state.candles;
    const i0 = Math.max(0, lowerBound(cs, v0 - period));
    const i1 = Math.min(cs.length, lowerBound(cs, v1 + period));

    let lo = Infinity;
    let hi = -Infinity;
    let vmax = 0;
    for (let i = i0; i < i1; i++) {
      if (cs[i].l < lo) lo = cs[i].l;
      if (cs[i].h > hi) hi = cs[i].h;
      if (cs[i].v !== null && cs[i].v > vmax) vmax = cs[i].v;
    }
    ctx.font = '11px system-ui, sans-serif';
    ctx.strokeStyle = '#2c323c';
    ctx.fillStyle = '#8a93a0';
    ctx.lineWidth = 1;
    if (i1 <= i0) {
      ctx.fillText(cs.length ? 'no candles in this window' : 'no candles stored for this series', 12, 24);
      canvas.dataset.candles = '0';
      drawBands(xOf, pw, period);
      return;
    }
    const padP = (hi - lo) * 0.06 || Math.abs(hi) * 0.01 || 1;
    lo -= padP;
    hi += padP;
    const volH = vmax > 0 ? ph * 0.18 : 0;
    const priceH = ph - volH;
    const yOf = (p) => PLOT.top + (1 - (p - lo) / (hi - lo)) * priceH;
    const dec = decimalsOf(cs[cs.length - 1].raw.close);

    // Grid and axes.
    ctx.textBaseline = 'middle';
    for (let k = 0; k <= 5; k++) {
      const p = lo + ((hi - lo) * k) / 5;
      const y = Math.round(yOf(p)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(0, y);
      ctx.lineTo(pw, y);
      ctx.stroke();
      ctx.fillText(p.toFixed(dec), pw + 6, y);
    }
    ctx.textBaseline = 'alphabetic';
    for (let k = 0; k <= 5; k++) {
      const t = v0 + ((v1 - v0) * (k + 0.5)) / 6;
      const x = Math.round(xOf(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, PLOT.top);
      ctx.lineTo(x, PLOT.top + ph);
      ctx.stroke();
      const label = period >= 86400 ? isoShort(t).slice(0, 10) : isoShort(t).slice(0, 16).replace('T', ' ');
      ctx.fillText(label, Math.min(Math.max(2, x - 40), pw - 90), H - 8);
    }

    // Candles and volume.
    const cw = Math.max(1, Math.min(24, ((period / (v1 - v0)) * pw) * 0.7));
    const up = '#26a69a';
    const down = '#ef5350';
    for (let i = i0; i < i1; i++) {
      const k = cs[i];
      const x = xOf(k.t + period / 2);
      const rising = k.c >= k.o;
      ctx.strokeStyle = ctx.fillStyle = rising ? up : down;
      ctx.beginPath();
      ctx.moveTo(Math.round(x) + 0.5, yOf(k.h));
      ctx.lineTo(Math.round(x) + 0.5, yOf(k.l));
      ctx.stroke();
      const yo = yOf(k.o);
      const yc = yOf(k.c);
      ctx.fillRect(x - cw / 2, Math.min(yo, yc), cw, Math.max(1, Math.abs(yc - yo)));
      if (volH && k.v !== null) {
        const vh = (k.v / vmax) * (volH - 4);
        ctx.globalAlpha = 0.4;
        ctx.fillRect(x - cw / 2, PLOT.top + ph - vh, cw, vh);
        ctx.globalAlpha = 1;
      }
    }

    // The latest close, exactly as stored.
    const last = cs[cs.length - 1];
    const yl = Math.round(yOf(last.c)) + 0.5;
    ctx.setLineDash([4, 3]);
    ctx.strokeStyle = '#4b8fd6';
    ctx.beginPath();
    ctx.moveTo(0, yl);
    ctx.lineTo(pw, yl);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = '#4b8fd6';
    ctx.fillRect(pw + 2, yl - 8, PLOT.right - 4, 16);
    ctx.fillStyle = '#fff';
    ctx.textBaseline = 'middle';
    ctx.fillText(last.raw.close, pw + 6, yl);
    ctx.textBaseline = 'alphabetic';

    canvas.dataset.candles = String(i1 - i0);
    const latest = $('chart-latest');
    latest.textContent = 'latest ' + last.raw.time + ' close ' + last.raw.close;
    latest.dataset.close = last.raw.close;
    latest.dataset.time = last.raw.time;
    drawBands(xOf, pw, period);

    if (state.firstDraw) {
      state.firstDraw = false;
      const ms = performance.now();
      canvas.dataset.firstRenderMs = ms.toFixed(1);
      canvas.dataset.drawMs = (ms - t0ms).toFixed(1);
      $('render-time').textContent = 'first chart render ' + ms.toFixed(0) + ' ms after load (' +
        cs.length + ' candles, drawn in ' + (ms - t0ms).toFixed(1) + ' ms)';
    }
  }

  function drawBands(xOf, pw, period) {
    const box = $('gap-bands');
    box.replaceChildren();
    box.style.right = PLOT.right + 'px';
    state.gaps.forEach((g) => {
      const a = parseTime(g.first);
      const b = parseTime(g.last);
      if (a === null || b === null) return;
      const x0 = Math.max(-2, xOf(a));
      const x1 = Math.min(pw + 2, xOf(b + period));
      if (x1 < 0 || x0 > pw) return;
      const band = el('div', null, 'gap-band gap-' + g.state);
      band.style.left = x0 + 'px';
      band.style.width = Math.max(2, x1 - x0) + 'px';
      band.dataset.first = g.first;
      band.dataset.last = g.last;
      band.dataset.state = g.state;
      band.title = g.state + ': ' + g.count + ' candles from ' + g.first + ' to ' + g.last +
        (g.reason ? ' (' + g.reason + ')' : '');
      box.appendChild(band);
    });
  }

  function renderGapTable() {
    const tbody = $('gap-table').tBodies[0];
    tbody.replaceChildren();
    $('gap-count').textContent = String(state.gaps.length);
    if (!state.gaps.length) {
      emptyRow(tbody, 6, 'no gaps in the ledger for this series');
      return;
    }
    state.gaps.forEach((g) => {
      const tr = el('tr');
      cell(tr, g.first);
      cell(tr, g.last);
      cell(tr, g.count, 'num');
      cell(tr, g.state, 'state-' + (g.state === 'open' || g.state === 'unfillable' ? 'failing' : g.state === 'filled' ? 'ok' : 'late'));
      cell(tr, g.reason);
      cell(tr, g.last_checked);
      tbody.appendChild(tr);
    });
  }

  function hover(ev) {
    const wrap = $('chart-wrap');
    const rect = wrap.getBoundingClientRect();
    const pw = rect.width - PLOT.right;
    const x = ev.clientX - rect.left;
    const info = $('chart-info');
    if (x < 0 || x > pw || !state.candles.length) return;
    const [v0, v1] = state.view || fullRange();
    const period = PERIOD[state.tf] || 60;
    const t = v0 + (x / pw) * (v1 - v0);
    const gap = state.gaps.find((g) => t >= parseTime(g.first) && t < parseTime(g.last) + period);
    if (gap) {
      info.textContent = 'gap ' + gap.state + ': ' + gap.count + ' candles ' + gap.first + ' \u2013 ' +
        gap.last + (gap.reason ? ' (' + gap.reason + ')' : '');
      return;
    }
    const i = lowerBound(state.candles, t - period);
    const k = state.candles[i];
    if (!k || k.t > t) {
      info.textContent = isoShort(Math.floor(t / period) * period) + '  no candle';
      return;
    }
    const r = k.raw;
    info.textContent = r.time + '  O ' + r.open + '  H ' + r.high + '  L ' + r.low + '  C ' + r.close +
      (r.volume === null ? '' : '  V ' + r.volume);
  }

  function zoom(factor, center) {
    const [v0, v1] = state.view || fullRange();
    const c = center === undefined ? (v0 + v1) / 2 : center;
    const period = PERIOD[state.tf] || 60;
    const span = Math.max(10 * period, (v1 - v0) * factor);
    const left = (c - v0) / (v1 - v0);
    state.view = [c - span * left, c + span * (1 - left)];
    draw();
  }

  function setupChart() {
    const wrap = $('chart-wrap');
    let drag = null;
    wrap.addEventListener('mousemove', (ev) => {
      if (drag) {
        const pw = wrap.clientWidth - PLOT.right;
        const dt = ((ev.clientX - drag.x) / pw) * (drag.v[1] - drag.v[0]);
        state.view = [drag.v[0] - dt, drag.v[1] - dt];
        draw();
      }
      hover(ev);
    });
    wrap.addEventListener('mousedown', (ev) => {
      drag = { x: ev.clientX, v: state.view || fullRange() };
    });
    window.addEventListener('mouseup', () => { drag = null; });
    wrap.addEventListener('wheel', (ev) => {
      ev.preventDefault();
      const rect = wrap.getBoundingClientRect();
      const pw = rect.width - PLOT.right;
      const [v0, v1] = state.view || fullRange();
      const t = v0 + ((ev.clientX - rect.left) / pw) * (v1 - v0);
      zoom(ev.deltaY > 0 ? 1.25 : 0.8, t);
    }, { passive: false });
    wrap.addEventListener('dblclick', () => { state.view = null; draw(); });
    $('zoom-in').addEventListener('click', () => zoom(0.5));
    $('zoom-out').addEventListener('click', () => zoom(2));
    $('zoom-all').addEventListener('click', () => { state.view = null; draw(); });
    window.addEventListener('resize', () => draw());
    // The chart's box also changes without the window doing so (a scrollbar
    // appears as the panels below fill in): draw again, or the gap bands and
    // the candles would no longer line up.
    if (window.ResizeObserver) {
      let last = $('chart-wrap').clientWidth;
      new ResizeObserver(() => {
        const w = $('chart-wrap').clientWidth;
        if (w !== last) {
          last = w;
          draw();
        }
      }).observe($('chart-wrap'));
    }
    $('series-select').addEventListener('change', (ev) => {
      const s = state.series[Number(ev.target.value)];
      state.source = s.source;
      state.symbol = s.symbol;
      fillTimeframes(s);
      syncUrl();
      loadCandles();
    });
    $('tf-select').addEventListener('change', (ev) => {
      state.tf = ev.target.value;
      syncUrl();
      loadCandles();
    });
  }

  // ---- jobs ----

  function token() {
    try {
      return window.sessionStorage.getItem(TOKEN_KEY) || '';
    } catch (e) {
      return '';
    }
  }

  function jobState(j) {
    if (j.running) return 'running';
    if (j.paused) return 'paused';
    if (j.streak > 0) return 'failing';
    if (j.overdue) return 'late';
    return 'ok';
  }

  function renderJobs(res) {
    const tbody = $('jobs-table').tBodies[0];
    if (!res.ok || !res.body) {
      showError('jobs-error', apiError(res, 'GET /jobs'));
      return;
    }
    showError('jobs-error', '');
    tbody.replaceChildren();
    const jobs = res.body.jobs || [];
    const tok = token();
    if (!jobs.length) emptyRow(tbody, 8, 'no jobs');
    jobs.forEach((j) => {
      const tr = el('tr');
      tr.dataset.job = j.id;
      const name = cell(tr, j.id);
      if (j.name && j.name !== j.id) name.title = j.name;
      cell(tr, j.schedule);
      const st = jobState(j);
      cell(tr, st + (st === 'failing' ? ' (' + j.streak + ')' : ''), 'state-' + st);
      const lr = j.last_run;
      const lastCell = cell(tr, lr ? lr.status + ' ' + when(lr.started) : 'never');
      lastCell.className = 'last-run' + (lr ? ' state-' + (lr.status === 'failed' ? 'failing' : lr.status === 'ok' ? 'ok' : 'late') : '');
      if (lr && lr.message) lastCell.title = lr.message;
      cell(tr, lr && lr.duration_ms !== null ? (lr.duration_ms / 1000).toFixed(1) + ' s' : '', 'num');
      cell(tr, j.paused ? 'paused' : j.next_run ? when(j.next_run) : '');
      cell(tr, j.streak, 'num');
      const act = el('td', null, 'actions');
      const why = tok ? '' : 'Enter the API token above to use this button';
      const run = el('button', 'Run now');
      run.dataset.action = 'run';
      const toggle = el('button', j.paused ? 'Resume' : 'Pause');
      toggle.dataset.action = j.paused ? 'resume' : 'pause';
      [run, toggle].forEach((b) => {
        b.type = 'button';
        b.dataset.job = j.id;
        b.disabled = !tok || (b === run && j.running);
        b.title = why || (b === run && j.running ? 'The job is running' : '');
        act.appendChild(b);
      });
      tr.appendChild(act);
      tbody.appendChild(tr);
    });
  }

  function renderTokenState() {
    const tok = token();
    $('token-reason').textContent = tok
      ? 'Buttons enabled: the token is kept in this tab\u2019s session storage only and sent with each action.'
      : 'Run now / Pause / Resume are disabled: they need the API token (api.token). Enter it above; it is kept in this tab\u2019s session storage only.';
  }

  async function jobAction(id, action) {
    const msg = $('job-message');
    msg.hidden = false;
    msg.textContent = action + ' ' + id + '\u2026';
    let res;
    try {
      const r = await fetch('/jobs/' + encodeURIComponent(id) + '/' + action, {
        method: 'POST', headers: { Authorization: 'Bearer ' + token() }, cache: 'no-store',
      });
      let body = null;
      try { body = await r.json(); } catch (e) { body = null; }
      res = { status: r.status, ok: r.ok, body: body };
    } catch (e) {
      msg.textContent = action + ' ' + id + ' failed: ' + e.message;
      return;
    }
    if (res.ok) {
      msg.textContent = id + ': ' + (action === 'run' ? 'started' : action === 'pause' ? 'paused' : 'resumed');
    } else if (res.status === 401) {
      msg.textContent = id + ': the API token was refused (' + ((res.body && res.body.error) || 'HTTP 401') + ')';
    } else {
      msg.textContent = apiError(res, action + ' ' + id);
    }
    refreshJobs();
  }

  function setupJobs() {
    const input = $('token-input');
    $('token-save').addEventListener('click', () => {
      try {
        if (input.value) window.sessionStorage.setItem(TOKEN_KEY, input.value);
      } catch (e) { /* storage refused: the buttons stay disabled */ }
      input.value = '';
      renderTokenState();
      refreshJobs();
    });
    $('token-forget').addEventListener('click', () => {
      try { window.sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing stored */ }
      renderTokenState();
      refreshJobs();
    });
    $('jobs-table').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-action]');
      if (b && !b.disabled) jobAction(b.dataset.job, b.dataset.action);
    });
    renderTokenState();
  }

  async function refreshJobs() {
    renderJobs(await getJSON('/jobs'));
  }

  // ---- alerts and deliveries ----

  function alertRows(tbody, list, timeKey, empty) {
    tbody.replaceChildren();
    if (!list.length) {
      emptyRow(tbody, 4, empty);
      return;
    }
    list.forEach((a) => {
      const tr = el('tr');
      cell(tr, a.severity, 'state-' + a.severity);
      const t = cell(tr, a.title || a.key);
      t.title = a.key + (a.details ? '\n' + a.details : '') + (a.inhibited_by ? '\ninhibited by ' + a.inhibited_by : '');
      cell(tr, when(a[timeKey]));
      cell(tr, a.times_sent, 'num');
      tbody.appendChild(tr);
    });
  }

  async function refreshAlerts() {
    const [f, r] = await Promise.all([
      getJSON('/alerts?state=firing&limit=100'),
      getJSON('/alerts?state=resolved&limit=200'),
    ]);
    if (!f.ok || !r.ok) {
      showError('alerts-error', apiError(f.ok ? r : f, 'GET /alerts'));
      return;
    }
    showError('alerts-error', '');
    const since = Date.now() / 1000 - 86400;
    alertRows($('alerts-firing').tBodies[0], f.body.alerts || [], 'first_seen', 'nothing firing');
    alertRows($('alerts-resolved').tBodies[0],
      (r.body.alerts || []).filter((a) => (parseTime(a.resolved_at) || 0) >= since), 'resolved_at',
      'none resolved in the last 24 h');
  }

  async function refreshDeliveries() {
    const res = await getJSON('/deliveries');
    const dl = $('deliveries');
    if (!res.ok || !res.body) {
      showError('deliveries-error', apiError(res, 'GET /deliveries'));
      return;
    }
    showError('deliveries-error', '');
    const d = res.body;
    dl.replaceChildren();
    addFact(dl, 'outbox (pending)', d.pending, d.pending ? 'state-late' : 'state-ok');
    addFact(dl, 'oldest pending', d.oldest_pending_age_seconds === null ? 'none' : fmtDuration(d.oldest_pending_age_seconds));
    addFact(dl, 'dead letters', d.dead, d.dead ? 'state-failing' : 'state-ok');
    addFact(dl, 'delivered', d.delivered);
    addFact(dl, 'next attempt', d.next_due ? when(d.next_due) : 'none due');
  }

  // ---- panels whose endpoints may not exist yet ----

  function renderGeneric(box, body) {
    const dl = el('dl', null, 'facts');
    let table = null;
    Object.keys(body).forEach((k) => {
      const v = body[k];
      if (Array.isArray(v) && v.length && typeof v[0] === 'object' && !table) {
        table = el('table', null, 'grid');
        const cols = Object.keys(v[0]).filter((c) => v[0][c] === null || typeof v[0][c] !== 'object');
        const hr = el('tr');
        cols.forEach((c) => hr.appendChild(el('th', c)));
        table.appendChild(el('thead')).appendChild(hr);
        const tb = el('tbody');
        v.slice(0, 10).forEach((row) => {
          const tr = el('tr');
          cols.forEach((c) => cell(tr, row[c] === null || typeof row[c] !== 'object' ? row[c] : ''));
          tb.appendChild(tr);
        });
        table.appendChild(tb);
      } else if (v === null || typeof v !== 'object') {
        addFact(dl, k.replace(/_/g, ' '), v === null ? 'none' : String(v));
      } else if (!Array.isArray(v)) {
        Object.keys(v).forEach((k2) => {
          if (v[k2] === null || typeof v[k2] !== 'object') addFact(dl, k + ' ' + k2.replace(/_/g, ' '), v[k2] === null ? 'none' : String(v[k2]));
        });
      }
    });
    box.appendChild(dl);
    if (table) box.appendChild(table);
  }

  async function refreshOptional(panel) {
    const path = panel.dataset.endpoint;
    const box = panel.querySelector('.optional-body');
    let res;
    try {
      res = await getJSON(path);
    } catch (e) {
      res = { status: 0, ok: false, body: null };
    }
    box.replaceChildren();
    panel.dataset.available = res.ok ? 'yes' : 'no';
    if (res.status === 404) {
      box.appendChild(el('p', 'not available: this daemon has no ' + path + ' endpoint', 'not-available'));
      return;
    }
    if (!res.ok || !res.body || typeof res.body !== 'object') {
      box.appendChild(el('p', apiError(res, 'GET ' + path), 'error'));
      return;
    }
    renderGeneric(box, res.body);
  }

  // ---- the refresh loop ----

  async function refreshAll() {
    window.clearTimeout(state.timer);
    try {
      // A series named already (in the URL, or shown before) loads while /health is read.
      const health = getJSON('/health');
      const key = () => state.source + '\u0000' + state.symbol + '\u0000' + state.tf;
      const early = state.source && state.symbol && state.tf ? key() : null;
      const candles = early ? loadCandles() : null;
      renderHealth(await health);
      await Promise.all([
        candles && key() === early ? candles : Promise.all([candles, loadCandles()]),
        refreshJobs(),
        refreshAlerts(),
        refreshDeliveries(),
        refreshOptional($('backups-panel')),
        refreshOptional($('maintenance-panel')),
      ]);
      $('updated').textContent = 'updated ' + isoShort(Math.floor(Date.now() / 1000));
    } catch (e) {
      $('updated').textContent = 'update failed: ' + e.message;
    }
    if (state.refreshSec > 0) state.timer = window.setTimeout(refreshAll, state.refreshSec * 1000);
  }

  function setupRefresh() {
    const sel = $('refresh-select');
    const want = params.get('refresh');
    if (want !== null && /^[0-9]+$/.test(want)) {
      state.refreshSec = Number(want);
      if (!Array.from(sel.options).some((o) => o.value === want)) {
        const o = el('option', want + ' s');
        o.value = want;
        sel.appendChild(o);
      }
      sel.value = want;
    }
    sel.addEventListener('change', () => {
      state.refreshSec = Number(sel.value);
      refreshAll();
    });
  }

  setupChart();
  setupJobs();
  setupRefresh();
  refreshAll();
}());
