// The recent calls console: wires the API, the view state and the views together.
// The view lives in the URL (never the credentials); every change reloads what it affects,
// with the previous request aborted, so what is shown always matches the filters shown.

import { Api, ApiError, Offline, fetchSchema, forgetSession, loadSession, saveSession } from "./api.js";
import { Breakdowns } from "./breakdowns.js";
import { Chart } from "./chart.js";
import { countLines, csvLine, csvRows } from "./csv.js";
import { Details } from "./details.js";
import { $ } from "./dom.js";
import { Filters } from "./filters.js";
import { formatCount, formatDuration, formatRate, formatTime, problemWords } from "./format.js";
import { directoryMaps } from "./names.js";
import {
  BREAKDOWN_FILTER, LAST_7_DAYS, RANGE, chartInterval, csvFilename, defaults, fromQuery,
  includesNow, pageCount, problems, removeChip, requestBody, sortedBy, toQuery, withFilters,
} from "./state.js";
import { CallsTable } from "./table.js";

const ALERT_KEY = "recentCalls.alertWaitSeconds";
const REFRESH_KEY = "recentCalls.refreshSeconds";
const CSV_PAGE_ROWS = 5000;

const app = {
  schema: null, api: null, view: null, zone: "GMT", hits: 0, loadedAt: 0, serverNow: 0,
  paused: false, timer: null, download: null, firstRender: true, implicitDefault: false,
  restored: false, generation: 0,
};

function now() {
  return app.serverNow + (Date.now() - app.loadedAt);
}

function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "GMT";
}

// -- views --------------------------------------------------------------------------------

let filters;
let table;
let details;
let chart;
let breakdowns;

function showSignedIn(signedIn) {
  $("sign-in").hidden = signedIn;
  $("workspace").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
  $("who").hidden = !signedIn;
  $("live").hidden = !signedIn;
  if (signedIn) $("who").textContent = `${app.api.session.tenant} (${app.api.session.region})`;
}

function setOffline(offline) {
  $("offline").hidden = !offline;
}

let loadingTimer = null;
function setLoading(loading) {
  clearTimeout(loadingTimer);
  $("results").setAttribute("aria-busy", String(loading));
  if (loading) loadingTimer = setTimeout(() => { $("loading").hidden = false; }, 250);
  else $("loading").hidden = true;
}

function renderSummary(stats) {
  const totals = stats.totals;
  $("sum-calls").textContent = formatCount(totals.calls);
  $("sum-abandoned").textContent = formatCount(totals.abandoned);
  $("sum-handle").textContent = totals.avgHandleTime === null ? "–" : formatDuration(totals.avgHandleTime);
  $("sum-wait").textContent = totals.avgWaitTime === null ? "–" : formatDuration(totals.avgWaitTime);
  $("sum-abandon").textContent = formatRate(totals.abandonRate);
  $("sum-transfers").textContent = formatCount(totals.transfers);
}

function renderCalls(answer, { markNew = false } = {}) {
  const view = app.view;
  app.hits = answer.hits;
  const pages = pageCount(answer.hits, view.rows);
  $("hits").textContent = `${formatCount(answer.hits)} calls match`;
  $("page-number").value = String(view.page);
  $("page-number").max = String(pages);
  $("page-count").textContent = `of ${formatCount(pages)}`;
  $("first").disabled = view.page <= 1;
  $("prev").disabled = view.page <= 1;
  $("next").disabled = view.page >= pages;
  $("last").disabled = view.page >= pages;
  table.render(answer.data, view, { markNew });
  const empty = answer.hits === 0;
  $("empty").hidden = !empty;
  $("table-wrap").hidden = empty;
  if (view.call) {
    const call = answer.data.find((item) => item.callId === view.call);
    if (call && details.call?.callId !== call.callId) details.open(call, table.rowOf(call.callId));
  } else if (details.isOpen) {
    details.close({ quiet: true });
  }
}

// -- loading ------------------------------------------------------------------------------

function fieldProblems(error) {
  const schema = app.schema;
  return error.fieldErrors.map(({ field, message }) => {
    if (schema.countFilters.includes(field) || schema.durationFilters.includes(field)) {
      return { field, kind: "whole" };
    }
    if (field === "timezone") return { field, kind: "zone" };
    return { field, message };
  });
}

function failed(error) {
  if (error.name === "AbortError") return;
  if (error instanceof Offline) {
    setOffline(true);
    return;
  }
  setOffline(false);
  if (error instanceof ApiError && error.status === 401) {
    signOut("Your session has ended: sign in again.");
    return;
  }
  if (error instanceof ApiError && error.status === 400 && error.fieldErrors.length) {
    filters.showProblems(fieldProblems(error));
    return;
  }
  $("filter-error").textContent = error instanceof ApiError
    ? problemWords(error.status, error.problem.detail)
    : String(error.message || error);
}

async function loadData({ markNew = false } = {}) {
  const body = requestBody(app.view, app.schema, { tenant: app.api.session.tenant, now: now() });
  const answer = await app.api.post("recentCallData", body, "data");
  renderCalls(answer, { markNew });
  return answer;
}

async function loadStats() {
  const view = app.view;
  const { interval, coarser } = chartInterval(view, app.schema, now());
  const body = {
    ...requestBody(view, app.schema, { tenant: app.api.session.tenant, now: now() }),
    interval, groupBy: view.by, serviceLevelSeconds: view.serviceLevel,
  };
  delete body.page;
  delete body.rows;
  let stats;
  let note = coarser ? `Shown by ${interval}: the window is too long to chart by the hour.` : "";
  try {
    stats = await app.api.post("recentCallStats", body, "stats");
  } catch (error) {
    const tooMany = error instanceof ApiError && error.status === 400
      && error.fieldErrors.some((item) => item.field === "interval");
    if (!tooMany) throw error;
    const coarsest = app.schema.intervals.at(-1);
    if (interval === coarsest) {
      // Even the coarsest interval holds too many buckets: say so in words, without a chart.
      chart.clear("This window is too long to chart; choose a shorter period to see the chart.");
      breakdowns.render(null);
      return null;
    }
    stats = await app.api.post("recentCallStats", { ...body, interval: coarsest }, "stats");
    note = `Shown by ${coarsest}: the window is too long to chart by the ${interval}.`;
  }
  renderSummary(stats);
  $("chart-title").textContent = `Calls per ${stats.interval} (${stats.timezone})`;
  chart.draw(stats);
  breakdowns.render(stats.breakdown ?? null);
  $("note").textContent = note;
  return stats;
}

async function loadBell() {
  const seconds = alertSeconds();
  if (seconds === null) {
    $("bell-count").textContent = "0";
    $("bell").hidden = true;
    return;
  }
  const body = requestBody(app.view, app.schema, { tenant: app.api.session.tenant, now: now(), page: 1, rows: 1 });
  const answer = await app.api.post("recentCallData", { ...body, timeInQueue: `sec:${seconds},-1` }, "bell");
  $("bell").hidden = false;
  $("bell-count").textContent = formatCount(answer.hits);
}

// Reload what a change affects: data (the page), stats (chart, figures, breakdown), bell.
async function load({ data = true, stats = true, markNew = false } = {}) {
  const found = problems(app.view, app.schema);
  if (found.length) {
    filters.showProblems(found);
    return;
  }
  filters.clearProblems();
  const started = performance.now();
  // Only the newest load may end the loading state: an older one ends when it is aborted.
  const generation = ++app.generation;
  setLoading(true);
  try {
    const work = [];
    if (data) work.push(loadData({ markNew }));
    if (stats) work.push(loadStats());
    work.push(loadBell());
    const results = await Promise.allSettled(work);
    const failure = results.find((result) => result.status === "rejected");
    if (failure) {
      failed(failure.reason);
      if (failure.reason?.name === "AbortError") return;
    } else {
      setOffline(false);
    }
    if (app.implicitDefault && stats && !failure) {
      app.implicitDefault = false;
      if (app.hits === 0 && app.view.period === "today") {
        // Nothing yet today (early morning, a weekend): open on the last 7 days instead.
        app.view = { ...app.view, period: LAST_7_DAYS };
        history.replaceState(null, "", location.pathname + toQuery(app.view, app.schema, app.zone));
        filters.write(app.view);
        await load();
        $("note").textContent = "No calls yet today: showing the last 7 days.";
        return;
      }
    }
    $("updated").textContent = `Updated at ${formatTime(now(), app.view.zone)}`;
    const mark = app.firstRender ? "first-render" : "filter-change";
    performance.measure(mark, { start: started, end: performance.now() });
    if (app.firstRender && app.restored) {
      // Opened with a session already in the tab: from navigation to the first full render.
      performance.measure("page-ready", { start: 0, end: performance.now() });
    }
    app.firstRender = false;
    document.body.dataset.ready = String(Date.now());
  } finally {
    if (generation === app.generation) {
      setLoading(false);
      schedule();
    }
  }
}

// -- changes ------------------------------------------------------------------------------

function show(view, { push = true, data = true, stats = true } = {}) {
  app.view = view;
  const query = toQuery(view, app.schema, app.zone);
  if (query !== location.search) {
    const url = location.pathname + query;
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
  }
  filters.write(view);
  return load({ data, stats });
}

function changeFilters(patch) {
  const merged = { ...app.view, ...patch };
  if (merged.period === RANGE && (merged.from === null || merged.to === null)) {
    // The range is chosen end by end: wait for both before asking.
    filters.write(merged);
    return;
  }
  show(withFilters(app.view, merged));
}

function goTo(page) {
  const pages = pageCount(app.hits, app.view.rows);
  const target = Math.min(Math.max(1, page), pages);
  show({ ...app.view, page: target, call: null }, { stats: false });
}

function alertSeconds() {
  const text = localStorage.getItem(ALERT_KEY) ?? "";
  return /^[0-9]{1,6}$/.test(text) ? Number(text) : null;
}

// -- live ---------------------------------------------------------------------------------

function refreshSeconds() {
  const saved = Number(localStorage.getItem(REFRESH_KEY));
  return [10, 30, 60, 300].includes(saved) ? saved : 30;
}

function schedule() {
  clearTimeout(app.timer);
  const live = app.api && app.view && includesNow(app.view, now());
  $("pause").hidden = !live;
  if (!live) {
    $("updated").textContent = app.view ? `${$("updated").textContent.replace(/ · not live$/, "")} · not live` : "";
    return;
  }
  if (app.paused) return;
  app.timer = setTimeout(() => {
    if (!app.paused && !details.isOpen && !app.download) load({ markNew: true });
    else schedule();
  }, refreshSeconds() * 1000);
}

function togglePause() {
  app.paused = !app.paused;
  $("pause").setAttribute("aria-pressed", String(app.paused));
  $("pause").textContent = app.paused ? "Resume live updates" : "Pause live updates";
  if (app.paused) clearTimeout(app.timer);
  else load({ markNew: true });
}

// -- CSV ----------------------------------------------------------------------------------

function save(blob, filename) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

async function streamed(response, status, signal) {
  const total = Number(response.headers.get("X-Total-Count"));
  const reader = response.body.getReader();
  const chunks = [];
  let lines = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (signal.aborted) throw new DOMException("cancelled", "AbortError");
    chunks.push(value);
    lines += countLines(value);
    const rows = Math.max(0, lines - 1);
    status.textContent = Number.isFinite(total) && total > 0
      ? `Downloading: ${formatCount(Math.min(rows, total))} of ${formatCount(total)} calls (${Math.floor((Math.min(rows, total) / total) * 100)} %)…`
      : `Downloading: ${formatCount(rows)} calls…`;
  }
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const named = /filename="([^"]+)"/.exec(disposition)?.[1];
  return { blob: new Blob(chunks, { type: "text/csv;charset=utf-8" }), count: Math.max(0, lines - 1), named };
}

// Without the export endpoint: page through recentCallData, with the same cell rules.
async function paged(status, signal) {
  const keys = app.schema.dataKeys;
  const parts = [csvLine(keys)];
  let page = 1;
  let hits = Infinity;
  let count = 0;
  while ((page - 1) * CSV_PAGE_ROWS < hits) {
    if (signal.aborted) throw new DOMException("cancelled", "AbortError");
    const body = requestBody(app.view, app.schema, { tenant: app.api.session.tenant, now: now(), page, rows: CSV_PAGE_ROWS });
    const response = await app.api.request("recentCallData", body, signal);
    const answer = await response.json();
    if (!response.ok) throw new ApiError(response.status, answer);
    hits = answer.hits;
    parts.push(csvRows(answer.data, keys));
    count += answer.data.length;
    status.textContent = `Downloading: ${formatCount(count)} of ${formatCount(hits)} calls (${hits ? Math.floor((count / hits) * 100) : 100} %)…`;
    if (answer.data.length < CSV_PAGE_ROWS) break;
    page += 1;
  }
  return { blob: new Blob(parts, { type: "text/csv;charset=utf-8" }), count, named: null };
}

async function downloadCsv() {
  const status = $("download-status");
  const controller = new AbortController();
  app.download = controller;
  $("download").hidden = true;
  $("cancel-download").hidden = false;
  status.textContent = "Preparing the download…";
  try {
    const body = requestBody(app.view, app.schema, { tenant: app.api.session.tenant, now: now(), page: 1, rows: CSV_PAGE_ROWS });
    const response = await app.api.exportStream(body, controller.signal);
    const result = response
      ? await streamed(response, status, controller.signal)
      : await paged(status, controller.signal);
    const today = new Date(now()).toISOString().slice(0, 10);
    save(result.blob, result.named ?? csvFilename(app.api.session.tenant, app.view, today));
    status.textContent = `Downloaded ${formatCount(result.count)} calls.`;
  } catch (error) {
    if (error.name === "AbortError") status.textContent = "Download cancelled.";
    else {
      status.textContent = "";
      failed(error);
    }
  } finally {
    app.download = null;
    $("download").hidden = false;
    $("cancel-download").hidden = true;
    schedule();
  }
}

// -- sign in ------------------------------------------------------------------------------

async function start(session) {
  app.api = new Api(session);
  const [facets, directory] = await Promise.all([
    app.api.post("recentCallFacets", { tenantId: session.tenant }),
    app.api.directory(),
  ]);
  const names = directoryMaps(directory);
  filters.offer(facets, names);
  for (const view of [table, details, breakdowns]) view.names = names;
  showSignedIn(true);
}

function openFromUrl() {
  app.view = fromQuery(location.search, app.schema, app.zone);
  app.implicitDefault = location.search === "";
  filters.write(app.view);
  return load();
}

async function signIn(event) {
  event.preventDefault();
  const session = {
    apiKey: $("api-key").value.trim(),
    token: $("token").value.trim(),
    region: $("region").value,
    tenant: $("tenant").value.trim(),
  };
  $("sign-in-error").textContent = "";
  const missing = [["api-key", session.apiKey], ["token", session.token], ["tenant", session.tenant]]
    .filter(([, value]) => !value).map(([id]) => id);
  for (const id of ["api-key", "token", "tenant"]) $(id).removeAttribute("aria-invalid");
  if (missing.length) {
    for (const id of missing) $(id).setAttribute("aria-invalid", "true");
    $("sign-in-error").textContent = "API key, token and tenant id are all needed.";
    $(missing[0]).focus();
    return;
  }
  try {
    await start(session);
  } catch (error) {
    app.api = null;
    $("sign-in-error").textContent = error instanceof Offline
      ? "The server cannot be reached. Check your connection and try again."
      : error instanceof ApiError ? problemWords(error.status, error.problem.detail) : String(error);
    return;
  }
  saveSession(session);
  $("sign-in-form").reset();
  await openFromUrl();
  $("results").focus({ preventScroll: true });
}

function signOut(message = "") {
  forgetSession();
  clearTimeout(app.timer);
  app.api = null;
  details.close({ quiet: true });
  showSignedIn(false);
  $("calls-body").replaceChildren();
  $("sign-in-error").textContent = message;
  $("api-key").focus();
}

// -- set up -------------------------------------------------------------------------------

function wire() {
  filters = new Filters(app.schema, { onChange: changeFilters });
  filters.onRemoveChip = (chip) => show(removeChip(app.view, chip, app.schema));
  table = new CallsTable(app.schema, {
    onSort: (column) => show(sortedBy(app.view, column), { stats: false }),
    onOpen: (call, row) => {
      details.open(call, row);
      app.view = { ...app.view, call: call.callId };
      history.pushState(null, "", location.pathname + toQuery(app.view, app.schema, app.zone));
    },
  });
  details = new Details(app.schema, {
    onClose: () => {
      app.view = { ...app.view, call: null };
      history.pushState(null, "", location.pathname + toQuery(app.view, app.schema, app.zone));
      schedule();
    },
  });
  chart = new Chart({
    onZoom: (from, to) => show(withFilters(app.view, { period: RANGE, from, to })),
  });
  breakdowns = new Breakdowns({
    onPick: (by, key) => {
      const field = BREAKDOWN_FILTER[by];
      const lists = { ...app.view.lists, [field]: [key] };
      show(withFilters(app.view, { lists }));
    },
  });

  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut());
  $("pause").addEventListener("click", togglePause);
  $("download").addEventListener("click", downloadCsv);
  $("cancel-download").addEventListener("click", () => app.download?.abort());
  $("reset-filters").addEventListener("click", () => show({ ...defaults(app.schema, app.zone), rows: app.view.rows }));
  $("empty-clear").addEventListener("click", () =>
    show({ ...defaults(app.schema, app.zone), period: app.view.period, from: app.view.from, to: app.view.to, zone: app.view.zone, rows: app.view.rows }));
  $("empty-week").addEventListener("click", () => show(withFilters(app.view, { period: LAST_7_DAYS, from: null, to: null })));
  $("rows").addEventListener("change", () => show({ ...app.view, rows: Number($("rows").value), page: 1, call: null }, { stats: false }));
  $("first").addEventListener("click", () => goTo(1));
  $("prev").addEventListener("click", () => goTo(app.view.page - 1));
  $("next").addEventListener("click", () => goTo(app.view.page + 1));
  $("last").addEventListener("click", () => goTo(pageCount(app.hits, app.view.rows)));
  $("page-number").addEventListener("change", () => {
    const page = Number($("page-number").value);
    if (Number.isInteger(page) && page >= 1) goTo(page);
    else $("page-number").value = String(app.view.page);
  });
  $("breakdown-by").addEventListener("change", () => show({ ...app.view, by: $("breakdown-by").value }, { data: false }));
  $("service-level").addEventListener("change", () => {
    const value = Number($("service-level").value);
    if (Number.isInteger(value) && value >= 0 && value <= 86400) {
      $("service-level").removeAttribute("aria-invalid");
      show({ ...app.view, serviceLevel: value }, { data: false });
    } else {
      $("service-level").setAttribute("aria-invalid", "true");
      $("filter-error").textContent = "Service level: enter whole seconds from 0 to 86,400.";
      $("service-level").focus();
    }
  });
  $("alert-wait").value = alertSeconds() ?? "";
  $("alert-wait").addEventListener("change", () => {
    const text = $("alert-wait").value.trim();
    if (text === "" || /^[0-9]{1,6}$/.test(text)) {
      $("alert-wait").removeAttribute("aria-invalid");
      if (text === "") localStorage.removeItem(ALERT_KEY);
      else localStorage.setItem(ALERT_KEY, text);
      table.alertMs = text === "" ? null : Number(text) * 1000;
      load({ stats: false });
    } else {
      $("alert-wait").setAttribute("aria-invalid", "true");
      $("filter-error").textContent = "Alert: enter a whole number of seconds, or leave it empty.";
      $("alert-wait").focus();
    }
  });
  table.alertMs = alertSeconds() === null ? null : alertSeconds() * 1000;
  $("refresh-every").value = String(refreshSeconds());
  $("refresh-every").addEventListener("change", () => {
    localStorage.setItem(REFRESH_KEY, $("refresh-every").value);
    schedule();
  });
  window.addEventListener("popstate", () => {
    if (!app.api) return;
    const view = fromQuery(location.search, app.schema, app.zone);
    const onlyCall = JSON.stringify({ ...view, call: null }) === JSON.stringify({ ...app.view, call: null });
    app.view = view;
    filters.write(view);
    if (onlyCall) {
      if (!view.call) details.close({ quiet: true });
      else {
        const call = table.calls.find((item) => item.callId === view.call);
        if (call) details.open(call, table.rowOf(call.callId));
      }
      return;
    }
    load();
  });
  window.addEventListener("online", () => { if (app.api) load(); });
  window.addEventListener("offline", () => setOffline(true));
  const syncBreakdownControls = () => {
    $("breakdown-by").value = app.view?.by ?? "queue";
    $("service-level").value = String(app.view?.serviceLevel ?? 20);
  };
  const write = filters.write.bind(filters);
  filters.write = (view) => {
    write(view);
    syncBreakdownControls();
  };
}

async function setUp() {
  try {
    app.schema = await fetchSchema();
  } catch {
    setOffline(true);
    return;
  }
  app.serverNow = app.schema.now;
  app.loadedAt = Date.now();
  app.zone = browserZone();
  app.view = defaults(app.schema, app.zone);
  wire();
  const session = loadSession();
  if (!session) {
    showSignedIn(false);
    return;
  }
  app.restored = true;
  try {
    await start(session);
  } catch (error) {
    if (error instanceof ApiError) forgetSession();
    showSignedIn(false);
    if (error instanceof Offline) setOffline(true);
    return;
  }
  await openFromUrl();
}

setUp();
