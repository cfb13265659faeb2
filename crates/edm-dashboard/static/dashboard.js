// EDM dashboard: click history from edm-stats, live events from edm-stream.
//
// The server puts both services' addresses in <body data-stream-url
// data-stats-url>. History comes from GET /api/clickCount and
// /api/clickHistory, refreshed every 30 s and shortly after live clicks.
// The live side arrives over Socket.io through edm-stream-client.js:
// WebSocket only (so any number of edm-stream instances work behind a
// router without affinity), and on reconnecting the stream resumes where it
// stopped, without gap or duplicate.
//
// Live totals (clicks per product, page loads) and events per second come
// from edm-trending's exact per-minute counts (Socket.io event `counts`),
// whatever the store's rate: the totals are those of every minute since the
// one this page opened in, the same figures edm-stats answers for those
// minutes (GET /api/v1/clicks?from=<that minute>). A minute's count is
// written again as it grows, then once more, final, when the minute closes;
// a record never counts twice (the latest count of each minute replaces
// the one before), so replays and reconnections change nothing.
//
// The log shows every event (`event`) while edm-stream streams them all;
// above its threshold it streams edm-trending's sample instead (`sample`,
// each record standing for N events), and the log says "1 in N". The mode
// arrives in the stream's status messages.
//
// "Trending now" shows edm-trending's results, which arrive over the same
// connection as Socket.io event `trending`: the latest closed 5-minute and
// 1-minute windows, each with its top products. A record for a window that
// is not later than the one shown (a replay after reconnecting, a
// duplicate) changes nothing.
//
// Every value that comes from an event or from the stats API is shown as
// text: DOM textContent, or a label drawn on a chart's canvas. Nothing here
// builds HTML from data.
(function () {
  'use strict';

  const STREAM_URL = document.body.dataset.streamUrl || '';
  const STATS_URL = document.body.dataset.statsUrl || '';
  const STATS_REFRESH_MS = 30000;
  /** After a live click, refresh the history this much later (coalesced). */
  const STATS_AFTER_CLICK_MS = 1500;
  const RATE_WINDOW_SECONDS = 60;
  /** Events arriving this soon after (re)connecting may be a replay. */
  const REPLAY_GRACE_MS = 2000;
  const LOG_LIMIT = 200;
  const MINUTE_MS = 60000;
  /** Minutes of counts kept to recognise later records of the same minute. */
  const COUNTS_KEPT_MINUTES = 60;
  /** Seconds of sample records the log's "1 in N" averages over. */
  const SAMPLE_WINDOW_SECONDS = 10;
  const TOP_PRODUCTS = 12;
  const LABEL_CHARS = 30;
  const SEEN_LIMIT = 10000;

  const COLORS = {
    click: '#34d399',
    pageload: '#fbbf24',
    history: '#38bdf8',
    grid: 'rgba(148, 163, 184, 0.12)',
    text: '#cbd5e1',
  };

  const byId = (id) => document.getElementById(id);

  // ---- state --------------------------------------------------------------

  const openedMinute = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
  const live = {
    /** `kind:minute:name` -> { count, final, minute }: the latest count of each. */
    counts: new Map(),
    /** Records of minutes before this are ignored (their counts were forgotten). */
    countedFrom: openedMinute,
    clicksByButton: new Map(),
    clickTotal: 0,
    pageLoadTotal: 0,
    /** epoch second -> { clicks, pageloads } */
    perSecond: new Map(),
    connectedAt: 0,
    seenKeys: new Set(),
    seenOrder: [],
    /** 'raw' (every event) or 'summary' (a sample), as edm-stream says. */
    mode: 'raw',
    /** The store's events per second, as edm-stream measured it. */
    storeRate: 0,
    /** [arrival ms, stands_for] of recent sample records. */
    samples: [],
  };

  // ---- charts -------------------------------------------------------------

  const chartsAvailable = typeof window.Chart === 'function';
  if (chartsAvailable) {
    Chart.defaults.color = COLORS.text;
    Chart.defaults.borderColor = COLORS.grid;
    Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
    Chart.defaults.animation = { duration: 250 };
  }

  function shortLabel(text) {
    return text.length > LABEL_CHARS ? text.slice(0, LABEL_CHARS - 1) + '…' : text;
  }

  function productChart(canvasId, color, label) {
    if (!chartsAvailable) return null;
    return new Chart(byId(canvasId), {
      type: 'bar',
      data: { labels: [], datasets: [{ label, data: [], backgroundColor: color, borderRadius: 4 }] },
      options: {
        indexAxis: 'y',
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: false } },
        scales: {
          x: { beginAtZero: true, ticks: { precision: 0 } },
          y: {
            grid: { display: false },
            ticks: {
              autoSkip: false,
              callback(value) {
                return shortLabel(String(this.getLabelForValue(value)));
              },
            },
          },
        },
      },
    });
  }

  const charts = {
    historyByProduct: productChart('history-by-product', COLORS.history, 'Clicks (all time)'),
    liveByProduct: productChart('live-by-product', COLORS.click, 'Clicks (live)'),
    historyByDay: chartsAvailable
      ? new Chart(byId('history-by-day'), {
          type: 'bar',
          data: { labels: [], datasets: [{ label: 'Clicks', data: [], backgroundColor: COLORS.history, borderRadius: 4 }] },
          options: {
            responsive: true,
            maintainAspectRatio: false,
            plugins: { legend: { display: false } },
            scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { grid: { display: false } } },
          },
        })
      : null,
    liveRate: chartsAvailable
      ? new Chart(byId('live-rate'), {
          type: 'line',
          data: {
            labels: [],
            datasets: [
              { label: 'Clicks', data: [], borderColor: COLORS.click, backgroundColor: 'rgba(52, 211, 153, 0.15)', fill: true, tension: 0.3, pointRadius: 0 },
              { label: 'Page loads', data: [], borderColor: COLORS.pageload, backgroundColor: 'rgba(251, 191, 36, 0.12)', fill: true, tension: 0.3, pointRadius: 0 },
            ],
          },
          options: {
            responsive: true,
            maintainAspectRatio: false,
            animation: false,
            plugins: { legend: { position: 'top', align: 'end', labels: { boxWidth: 12 } } },
            scales: {
              y: { beginAtZero: true, suggestedMax: 3, ticks: { precision: 0 } },
              x: { grid: { display: false }, ticks: { maxTicksLimit: 6, maxRotation: 0 } },
            },
          },
        })
      : null,
  };

  function setBars(chart, rows) {
    if (!chart) return;
    chart.data.labels = rows.map((row) => row.label);
    chart.data.datasets[0].data = rows.map((row) => row.value);
    chart.update();
  }

  function topRows(entries) {
    return entries
      .filter(([, value]) => value > 0)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, TOP_PRODUCTS)
      .map(([label, value]) => ({ label, value }));
  }

  // ---- status pills -------------------------------------------------------

  function setState(pillId, state, text) {
    byId(pillId).dataset.state = state;
    byId(pillId + '-text').textContent = text;
  }

  // ---- history (edm-stats) -------------------------------------------------

  async function fetchJson(path) {
    const response = await fetch(STATS_URL + path, { mode: 'cors', credentials: 'omit', cache: 'no-store' });
    if (!response.ok) throw new Error(`${path} answered ${response.status}`);
    const body = await response.json();
    if (!Array.isArray(body)) throw new Error(`${path} did not return a list`);
    return body;
  }

  function dayLabel(day) {
    const date = new Date(day);
    if (Number.isNaN(date.getTime())) return String(day);
    return date.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short', timeZone: 'UTC' });
  }

  function renderHistory(counts, days) {
    const totals = new Map();
    for (const row of counts) {
      if (!row || typeof row !== 'object') continue;
      const value = Number(row.sum);
      if (!Number.isFinite(value)) continue;
      const id = String(row.button_id ?? '');
      totals.set(id, (totals.get(id) || 0) + value);
    }
    const rows = topRows([...totals.entries()]);
    setBars(charts.historyByProduct, rows);
    byId('history-by-product-empty').hidden = rows.length > 0;
    byId('history-by-product-empty').textContent = 'No clicks recorded yet.';
    const total = [...totals.values()].reduce((sum, value) => sum + value, 0);
    byId('history-click-total').textContent = total.toLocaleString();
    byId('history-top-button').textContent = rows.length > 0 ? rows[0].label : '—';
    byId('history-top-button').title = rows.length > 0 ? rows[0].label : '';

    const dayRows = days
      .filter((row) => row && typeof row === 'object' && Number.isFinite(Number(row.clicks)))
      .map((row) => ({ label: dayLabel(row.Day), value: Number(row.clicks) }));
    setBars(charts.historyByDay, dayRows);
    byId('history-by-day-empty').hidden = dayRows.length > 0;
    byId('history-by-day-empty').textContent = 'No history yet.';
  }

  let statsTimer = null;

  async function refreshHistory() {
    clearTimeout(statsTimer);
    try {
      const [counts, days] = await Promise.all([fetchJson('/api/clickCount'), fetchJson('/api/clickHistory')]);
      renderHistory(counts, days);
      setState('stats-state', 'ok', 'up to date');
    } catch (error) {
      console.debug('EDM: history unavailable:', error);
      setState('stats-state', 'unavailable', 'unavailable, retrying');
      for (const id of ['history-by-product-empty', 'history-by-day-empty']) {
        if (!byId(id).hidden) byId(id).textContent = 'History unavailable: edm-stats cannot be reached. Retrying…';
      }
    }
    statsTimer = setTimeout(refreshHistory, STATS_REFRESH_MS);
  }

  let statsSoon = null;
  function refreshHistorySoon() {
    if (statsSoon !== null) return;
    statsSoon = setTimeout(() => {
      statsSoon = null;
      refreshHistory();
    }, STATS_AFTER_CLICK_MS);
  }

  // ---- live (edm-stream) ----------------------------------------------------

  let liveRenderPending = false;
  function renderLiveSoon() {
    if (liveRenderPending) return;
    liveRenderPending = true;
    setTimeout(() => {
      liveRenderPending = false;
      const rows = topRows([...live.clicksByButton.entries()]);
      setBars(charts.liveByProduct, rows);
      byId('live-by-product-empty').hidden = rows.length > 0;
      byId('live-click-total').textContent = live.clickTotal.toLocaleString();
      byId('live-pageload-total').textContent = live.pageLoadTotal.toLocaleString();
    }, 100);
  }

  function renderRate() {
    const nowSecond = Math.floor(Date.now() / 1000);
    const labels = [];
    const clicks = [];
    const pageloads = [];
    for (let second = nowSecond - RATE_WINDOW_SECONDS + 1; second <= nowSecond; second += 1) {
      const bucket = live.perSecond.get(second);
      labels.push(clockTime(new Date(second * 1000), true));
      clicks.push(bucket ? bucket.clicks : 0);
      pageloads.push(bucket ? bucket.pageloads : 0);
    }
    for (const second of live.perSecond.keys()) {
      if (second <= nowSecond - RATE_WINDOW_SECONDS) live.perSecond.delete(second);
    }
    forgetOldCounts();
    if (charts.liveRate) {
      charts.liveRate.data.labels = labels;
      charts.liveRate.data.datasets[0].data = clicks;
      charts.liveRate.data.datasets[1].data = pageloads;
      charts.liveRate.update();
    }
  }

  /**
   * Adds what a count grew by to the current second. Counts that arrive in
   * the burst right after (re)connecting hold what happened before: they
   * raise the totals, not the rate.
   */
  function countPerSecond(grew, field) {
    const now = Date.now();
    if (now - live.connectedAt < REPLAY_GRACE_MS) return;
    const second = Math.floor(now / 1000);
    const bucket = live.perSecond.get(second) || { clicks: 0, pageloads: 0 };
    bucket[field] += grew;
    live.perSecond.set(second, bucket);
  }

  /**
   * A counts record's JSON text as the totals use it, or null if it is not
   * one (edm-stream validates records, so this only guards the page).
   */
  function readCountsRecord(payload) {
    const record = parseObject(payload);
    if (!record) return null;
    const minute = Number(record.minute);
    const n = Number(record.count);
    if (record.kind !== 'click' && record.kind !== 'pageload') return null;
    if (!Number.isSafeInteger(minute) || minute % MINUTE_MS !== 0 || !Number.isSafeInteger(n) || n < 0) return null;
    return { kind: record.kind, name: String(record.name ?? ''), minute, count: n, final: record.final === true };
  }

  /**
   * Takes a minute's count into the totals: what it adds to the count held
   * for that minute (nothing for a replay, an older provisional count, or
   * anything after the final one).
   */
  function onCountsRecord(payload) {
    const record = readCountsRecord(payload);
    if (!record) {
      console.debug('EDM: not a counts record:', payload);
      return;
    }
    if (record.minute < live.countedFrom) return;
    const key = `${record.kind}:${record.minute}:${record.name}`;
    const held = live.counts.get(key);
    if (held && (held.final || (!record.final && record.count <= held.count))) return;
    live.counts.set(key, { count: record.count, final: record.final, minute: record.minute });
    const grew = record.count - (held ? held.count : 0);
    if (record.kind === 'click') {
      live.clicksByButton.set(record.name, (live.clicksByButton.get(record.name) || 0) + grew);
      live.clickTotal += grew;
      countPerSecond(grew, 'clicks');
      if (grew > 0) refreshHistorySoon();
    } else {
      live.pageLoadTotal += grew;
      countPerSecond(grew, 'pageloads');
    }
    renderLiveSoon();
  }

  /** Forgets the counts of minutes long closed; their totals stay. */
  function forgetOldCounts() {
    const horizon = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - COUNTS_KEPT_MINUTES * MINUTE_MS;
    if (horizon <= live.countedFrom) return;
    live.countedFrom = horizon;
    for (const [key, held] of live.counts) if (held.minute < horizon) live.counts.delete(key);
  }

  /** True the first time an event is seen; replays after a reconnect are false. */
  function firstSighting(event, properties) {
    const key =
      typeof event.event_id === 'string'
        ? 'id:' + event.event_id
        : [event.topic, event.uuid, event.event_timestamp, properties.button_id, properties.url].map(String).join('\u0000');
    if (live.seenKeys.has(key)) return false;
    live.seenKeys.add(key);
    live.seenOrder.push(key);
    if (live.seenOrder.length > SEEN_LIMIT) live.seenKeys.delete(live.seenOrder.shift());
    return true;
  }

  function appendLog(kind, badgeText, what, visitor, timestamp, raw, sample) {
    const list = byId('event-log');
    const row = document.createElement('li');
    row.className = 'log-' + kind + ' fresh';
    const time = document.createElement('time');
    const at = new Date(Number.isFinite(timestamp) ? timestamp : Date.now());
    time.dateTime = at.toISOString();
    time.textContent = clockTime(at, true);
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = badgeText;
    const whatCell = document.createElement('span');
    whatCell.className = 'log-what';
    whatCell.textContent = what;
    whatCell.title = what;
    const visitorCell = document.createElement('span');
    visitorCell.className = 'log-visitor';
    visitorCell.textContent = visitor;
    const rawCell = document.createElement('code');
    rawCell.className = 'log-raw';
    rawCell.textContent = raw.length > 400 ? raw.slice(0, 400) + '…' : raw;
    const kindCell = document.createElement('span');
    kindCell.className = 'log-kind';
    kindCell.append(badge);
    if (sample !== null) {
      const sampleNote = document.createElement('span');
      sampleNote.className = 'log-sample';
      sampleNote.textContent = sample;
      sampleNote.title = `a sampled event: it stands for ${sample.slice(5)} events`;
      kindCell.append(sampleNote);
    }
    row.append(time, kindCell, whatCell, visitorCell, rawCell);
    list.prepend(row);
    while (list.children.length > LOG_LIMIT) list.lastElementChild.remove();
    byId('event-log-empty').hidden = true;
    byId('log-count').textContent = String(list.children.length);
  }

  /** A record's JSON text as an object, or null if it is not one. */
  function parseObject(payload) {
    let value = null;
    try {
      value = typeof payload === 'string' ? JSON.parse(payload) : payload;
    } catch (_) {
      return null;
    }
    return value && typeof value === 'object' && !Array.isArray(value) ? value : null;
  }

  function onStreamEvent(payload) {
    const raw = typeof payload === 'string' ? payload : JSON.stringify(payload);
    const event = parseObject(payload);
    if (!event) {
      appendLog('other', 'invalid', String(raw), '', Date.now(), String(raw), null);
      return;
    }
    logEvent(event, raw, null);
  }

  /** One sampled event, standing for `stands_for` events, logged as such. */
  function onSampleRecord(payload) {
    const record = parseObject(payload);
    const event = record ? parseObject(record.event) : null;
    if (!event) {
      console.debug('EDM: not a sample record:', payload);
      return;
    }
    const standsFor = Math.max(1, count(record.stands_for));
    if (logEvent(event, JSON.stringify(event), standsFor)) {
      live.samples.push([Date.now(), standsFor]);
      renderLogMode();
    }
  }

  /**
   * Logs an event the first time it is seen (`standsFor`: how many events
   * it stands for when it is a sample, else null); false for a replay.
   */
  function logEvent(event, raw, standsFor) {
    const properties = event.properties && typeof event.properties === 'object' ? event.properties : {};
    if (!firstSighting(event, properties)) return false;
    const topic = String(event.topic ?? '');
    const timestamp = Number(event.event_timestamp);
    const visitor = 'visitor ' + String(event.uuid ?? '?').slice(0, 8);
    const sample = standsFor === null ? null : `1 in ${standsFor.toLocaleString()}`;
    if (topic.endsWith('edm-ui-click')) {
      const buttonId = String(properties.button_id ?? '(no button id)');
      appendLog('click', 'click', buttonId, visitor, timestamp, raw, sample);
    } else if (topic.endsWith('edm-ui-pageload')) {
      appendLog('pageload', 'page load', String(properties.url ?? ''), visitor, timestamp, raw, sample);
    } else {
      appendLog('other', 'other', topic, visitor, timestamp, raw, sample);
    }
    return true;
  }

  /** Says what the log shows: every event, or a sample and what it stands for. */
  function renderLogMode() {
    const cutoff = Date.now() - SAMPLE_WINDOW_SECONDS * 1000;
    while (live.samples.length > 0 && live.samples[0][0] < cutoff) live.samples.shift();
    let text = 'every event';
    if (live.mode === 'summary') {
      const sampled = live.samples.length;
      const average = sampled > 0 ? Math.round(live.samples.reduce((sum, [, n]) => sum + n, 0) / sampled) : 0;
      text = average > 0 ? `a sample, 1 in ${average.toLocaleString()}` : 'a sample (none yet)';
      text += ` of ${live.storeRate.toLocaleString()} events/s`;
    }
    byId('log-mode').textContent = text;
    byId('log-mode').dataset.mode = live.mode;
  }

  function connectStream() {
    if (typeof window.io !== 'function' || !window.EdmStream || !STREAM_URL) {
      setState('stream-state', 'unavailable', 'unavailable');
      return;
    }
    let missed = false;
    const socket = window.EdmStream.connect(
      window.io,
      STREAM_URL,
      {
        event: onStreamEvent,
        trending: onTrendingRecord,
        counts: onCountsRecord,
        sample: onSampleRecord,
        status(status) {
          // Away longer than edm-stream can replay, or too slow to keep up.
          if (status.start === 'too_far_behind' || status.gap > 0) missed = true;
          if (status.mode === 'raw' || status.mode === 'summary') {
            live.mode = status.mode;
            live.storeRate = count(status.events_per_second);
            renderLogMode();
          }
          if (socket.connected) setState('stream-state', 'live', missed ? 'live (some events missed)' : 'live');
        },
      },
      { reconnectionDelayMax: 5000 }
    );
    socket.on('connect', () => {
      live.connectedAt = Date.now();
      setState('stream-state', 'live', missed ? 'live (some events missed)' : 'live');
    });
    socket.on('disconnect', () => setState('stream-state', 'reconnecting', 'reconnecting…'));
    socket.on('connect_error', () => setState('stream-state', 'reconnecting', 'reconnecting…'));
  }

  // ---- trending (edm-trending's results, through edm-stream) ----------------

  /** Products shown per window. */
  const TRENDING_ROWS = 10;
  /** The window kinds shown, and the element ids they fill. */
  const TRENDING_WINDOWS = ['5m', '1m'];
  /** Latest epoch ms a JavaScript Date can show. */
  const MAX_DATE_MS = 8.64e15;

  /** The latest closed window of each kind: name -> what the panel shows. */
  const trending = new Map();

  const isTime = (ms) => Number.isFinite(ms) && Math.abs(ms) <= MAX_DATE_MS;

  /**
   * A trending record's JSON text as the panel shows it: the window, its
   * clicks, the clicks that came after it closed, and its products, most
   * clicks first, each with how much its count may be over. Null if it is
   * not one (edm-stream validates records, so this only guards the page).
   */
  function readTrendingRecord(payload) {
    const record = parseObject(payload);
    if (!record || !record.window || typeof record.window !== 'object') return null;
    const name = String(record.window.name);
    const start = Number(record.window.start);
    const end = Number(record.window.end);
    if (!TRENDING_WINDOWS.includes(name) || !isTime(start) || !isTime(end) || !Array.isArray(record.top)) return null;
    const top = record.top
      .filter((product) => product && typeof product === 'object' && Number.isFinite(Number(product.clicks)))
      .map((product) => ({
        buttonId: String(product.button_id ?? ''),
        clicks: Number(product.clicks),
        overcount: count(product.overcount),
      }))
      .sort((a, b) => b.clicks - a.clicks || (a.buttonId < b.buttonId ? -1 : a.buttonId > b.buttonId ? 1 : 0));
    const clicks = Number(record.clicks);
    return {
      name,
      start,
      end,
      clicks: Number.isFinite(clicks) ? clicks : top.reduce((sum, product) => sum + product.clicks, 0),
      lateClicks: count(record.late_clicks),
      top,
    };
  }

  /** A count a record may leave out: 0 when absent or not a count. */
  function count(value) {
    const n = Number(value);
    return Number.isFinite(n) && n > 0 ? n : 0;
  }

  function onTrendingRecord(payload) {
    const record = readTrendingRecord(payload);
    if (!record) {
      console.debug('EDM: not a trending record:', payload);
      return;
    }
    const shown = trending.get(record.name);
    // Only a later window, or the shown window again with more late clicks,
    // replaces what is shown: a replayed record, a duplicate or a late
    // older window changes nothing.
    const newer = !shown || record.start > shown.start;
    const updated = shown && record.start === shown.start && record.lateClicks > shown.lateClicks;
    if (!newer && !updated) return;
    trending.set(record.name, record);
    renderTrending(record);
  }

  function timeElement(ms) {
    const time = document.createElement('time');
    const at = new Date(ms);
    time.dateTime = at.toISOString();
    time.textContent = clockTime(at, false);
    return time;
  }

  /** `at` on the 24-hour clock, local time: 14:05, or 14:05:09 with seconds. */
  function clockTime(at, withSeconds) {
    const parts = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
    if (withSeconds) parts.second = '2-digit';
    return at.toLocaleTimeString([], parts);
  }

  function trendingRow(product, rank, most) {
    const row = document.createElement('li');
    const rankCell = document.createElement('span');
    rankCell.className = 'trending-rank';
    rankCell.textContent = String(rank);
    const nameCell = document.createElement('span');
    nameCell.className = 'trending-name';
    nameCell.textContent = product.buttonId;
    nameCell.title = product.buttonId;
    const bar = document.createElement('span');
    bar.className = 'trending-bar';
    const fill = document.createElement('span');
    fill.className = 'trending-fill';
    fill.style.width = `${Math.max(2, Math.min(100, (product.clicks / most) * 100))}%`;
    bar.append(fill);
    const clicks = document.createElement('span');
    clicks.className = 'trending-count';
    if (product.overcount > 0) {
      // The window held more products than edm-trending keeps: an upper bound.
      clicks.textContent = `≤ ${product.clicks.toLocaleString()}`;
      clicks.title = `between ${(product.clicks - product.overcount).toLocaleString()} and ${product.clicks.toLocaleString()} clicks`;
    } else {
      clicks.textContent = product.clicks.toLocaleString();
    }
    row.append(rankCell, nameCell, bar, clicks);
    return row;
  }

  function renderTrending(record) {
    byId('trending-empty').hidden = true;
    byId('trending-windows').hidden = false;
    const range = byId(`trending-${record.name}-range`);
    range.replaceChildren(
      timeElement(record.start),
      ' – ',
      timeElement(record.end),
      ` · ${record.clicks.toLocaleString()} ${record.clicks === 1 ? 'click' : 'clicks'}`
    );
    if (record.lateClicks > 0) {
      const incomplete = document.createElement('span');
      incomplete.className = 'trending-incomplete';
      incomplete.textContent = ` · incomplete: ${record.lateClicks.toLocaleString()} late ${record.lateClicks === 1 ? 'click' : 'clicks'} not counted`;
      range.append(incomplete);
    }
    range.title = `${new Date(record.start).toLocaleString()} – ${new Date(record.end).toLocaleString()}`;
    const most = record.top.length > 0 && record.top[0].clicks > 0 ? record.top[0].clicks : 1;
    byId(`trending-${record.name}-list`).replaceChildren(
      ...record.top.slice(0, TRENDING_ROWS).map((product, i) => trendingRow(product, i + 1, most))
    );
  }

  // ---- start ----------------------------------------------------------------

  for (const since of document.querySelectorAll('.live-since')) {
    since.dateTime = new Date(openedMinute).toISOString();
    since.textContent = clockTime(new Date(openedMinute), false);
  }
  renderRate();
  setInterval(() => {
    renderRate();
    renderLogMode();
  }, 1000);
  refreshHistory();
  connectStream();
})();
