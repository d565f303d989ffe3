// The recent calls console: wires the API, the view state and the views together.
// The view lives in the URL (never the credentials); every change reloads what it affects,
// with the previous request aborted, so what is shown always matches the filters shown.
// What a change leads to is navigate.js's to decide; `apply` is the one place that carries it
// out (the view, the address bar, the controls, the loads).

import { Api, ApiError, Offline, fetchSchema, forgetSession, loadSession, saveSession } from "./api.js";
import { Breakdowns } from "./breakdowns.js";
import { Chart } from "./chart.js";
import { countLines, csvLine, csvRows } from "./csv.js";
import { Details } from "./details.js";
import { $ } from "./dom.js";
import { Filters } from "./filters.js";
import {
  REGION_COUNTRY, formatCount, formatDuration, formatRate, formatTime, problemWords,
} from "./format.js";
import { navigate } from "./navigate.js";
import { directoryMaps } from "./names.js";
import {
  bellBody, chartInterval, csvFilename, defaults, includesNow, knownZone, pageCount, problems,
  requestBody,
} from "./state.js";
import { CallsTable } from "./table.js";
import { emptyWords } from "./words.js";

// Per tenant: the bell's threshold ("" when switched off) and when it was last looked at.
const ALERT_KEY = "recentCalls.alertWaitSeconds";
const BELL_SEEN_KEY = "recentCalls.bellSeenAt";
// The bell is on until a tenant's supervisor changes it: a wait of two minutes rings it.
const DEFAULT_ALERT_SECONDS = 120;
const REFRESH_KEY = "recentCalls.refreshSeconds";
// Whether the bell also sounds ("on"); off unless this browser's user switched it on.
const SOUND_KEY = "recentCalls.bellSound";
const CSV_PAGE_ROWS = 5000;

function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "GMT";
}

function setOffline(offline) {
  $("offline").hidden = !offline;
}

// What is shown is dimmed while the latest load failed (an error or the offline banner): it is
// what the page had, not an answer to what the bar says now.
function setStale(stale) {
  document.body.classList.toggle("stale", stale);
}

function alertSeconds(tenant) {
  const text = localStorage.getItem(`${ALERT_KEY}.${tenant}`);
  if (text === null) return DEFAULT_ALERT_SECONDS;
  return /^[0-9]{1,6}$/.test(text) ? Number(text) : null;
}

// A short two-note chime (Web Audio, no file to fetch): 0.3 s, quiet. The context is made on
// the toggle's click, since browsers start audio only after a gesture; until then, silence.
let audio = null;

function wakeAudio() {
  audio ??= new AudioContext();
  return audio.resume();
}

function chime() {
  if (!audio || audio.state !== "running") return;
  const start = audio.currentTime;
  for (const [offset, pitch] of [[0, 880], [0.15, 660]]) {
    const tone = audio.createOscillator();
    const level = audio.createGain();
    tone.frequency.value = pitch;
    level.gain.setValueAtTime(0.15, start + offset);
    level.gain.exponentialRampToValueAtTime(0.001, start + offset + 0.15);
    tone.connect(level).connect(audio.destination);
    tone.start(start + offset);
    tone.stop(start + offset + 0.15);
  }
}

function refreshSeconds() {
  const saved = Number(localStorage.getItem(REFRESH_KEY));
  return [10, 30, 60, 300].includes(saved) ? saved : 30;
}

function save(blob, filename) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
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

class ConsolePage {
  constructor(schema, zone) {
    this.schema = schema;
    this.zone = zone;
    this.serverNow = schema.now;
    this.loadedAt = Date.now();
    this.api = null;
    this.view = defaults(schema, zone);
    this.hits = 0;
    this.bellHeard = 0;
    this.paused = false;
    this.timer = null;
    this.loadingTimer = null;
    this.download = null;
    this.firstRender = true;
    this.implicitDefault = false;
    this.restored = false;
    this.generation = 0;
    const act = (type, fields = {}) => this.act({ type, ...fields });
    this.filters = new Filters(schema, {
      onChange: (patch) => act("filters", { patch }),
      onRemoveChip: (chip) => act("removeChip", { chip }),
    });
    this.table = new CallsTable(schema, {
      onSort: (column) => act("sort", { column }),
      onOpen: (call) => act("openCall", { callId: call.callId }),
    });
    this.details = new Details(schema, { onClose: () => act("closeCall") });
    this.chart = new Chart({ onZoom: (from, to) => act("zoom", { from, to }) });
    this.breakdowns = new Breakdowns({
      onPick: (by, key) => act("pickBreakdownRow", { by, key }),
      onBy: (by) => act("breakdownBy", { by }),
      onServiceLevel: (seconds) => act("serviceLevel", { seconds }),
    });
    this.wire(act);
  }

  now() {
    return this.serverNow + (Date.now() - this.loadedAt);
  }

  // -- changes ----------------------------------------------------------------------------

  act(action) {
    return this.apply(navigate({ schema: this.schema, zone: this.zone, view: this.view, hits: this.hits }, action));
  }

  // Carry out navigate's answer: the one place that sets the view and writes the history.
  apply(next) {
    if (next.pending) {
      // One end of a range chosen: show it, and what is still missing, without moving focus.
      this.writeControls(next.pending);
      const { from, to } = next.pending;
      const missing = from === null && to === null ? [] : problems(next.pending, this.schema);
      this.filters.showProblems([...this.filters.rangeProblems(), ...missing], { focus: false });
      return undefined;
    }
    this.view = next.view;
    const url = location.pathname + (next.url ?? "");
    if (next.history === "push") history.pushState(null, "", url);
    else if (next.history === "replace") history.replaceState(null, "", url);
    this.writeControls(next.view);
    if (next.details === "open") {
      const call = this.table.calls.find((item) => item.callId === next.view.call);
      if (call && this.details.call?.callId !== call.callId) this.details.open(call, this.table.rowOf(call.callId));
    } else if (next.details === "close") {
      this.details.close({ quiet: true });
    }
    if (next.reload) return this.load(next.reload);
    this.schedule();
    return undefined;
  }

  writeControls(view) {
    this.filters.write(view);
    this.breakdowns.write(view);
  }

  // -- views ------------------------------------------------------------------------------

  showSignedIn(signedIn) {
    $("sign-in").hidden = signedIn;
    $("workspace").hidden = !signedIn;
    $("sign-out").hidden = !signedIn;
    $("who").hidden = !signedIn;
    $("live").hidden = !signedIn;
    if (signedIn) $("who").textContent = `${this.api.session.tenant} (${this.api.session.region})`;
  }

  setLoading(loading) {
    clearTimeout(this.loadingTimer);
    $("results").setAttribute("aria-busy", String(loading));
    if (loading) this.loadingTimer = setTimeout(() => { $("loading").hidden = false; }, 250);
    else $("loading").hidden = true;
  }

  renderCalls(answer, { markNew = false } = {}) {
    const view = this.view;
    this.hits = answer.hits;
    const pages = pageCount(answer.hits, view.rows);
    $("hits").textContent = `${formatCount(answer.hits)} calls match`;
    $("page-number").value = String(view.page);
    $("page-number").max = String(pages);
    $("page-count").textContent = `of ${formatCount(pages)}`;
    $("first").disabled = view.page <= 1;
    $("prev").disabled = view.page <= 1;
    $("next").disabled = view.page >= pages;
    $("last").disabled = view.page >= pages;
    this.table.render(answer.data, view, { markNew });
    const empty = answer.hits === 0;
    if (empty) {
      const words = emptyWords(view);
      $("empty-title").textContent = words.title;
      $("empty-hint").textContent = words.hint;
      $("empty-week").textContent = words.widen;
    }
    $("empty").hidden = !empty;
    $("table-wrap").hidden = empty;
    const details = this.details;
    if (view.call) {
      const call = answer.data.find((item) => item.callId === view.call);
      if (call && details.call?.callId !== call.callId) details.open(call, this.table.rowOf(call.callId));
    } else if (details.isOpen) {
      details.close({ quiet: true });
    }
  }

  // -- loading ----------------------------------------------------------------------------

  fieldProblems(error) {
    const schema = this.schema;
    return error.fieldErrors.map(({ field, message }) => {
      if (schema.countFilters.includes(field) || schema.durationFilters.includes(field)) {
        return { field, kind: "whole" };
      }
      if (field === "timezone") return { field, kind: "zone" };
      return { field, message };
    });
  }

  failed(error) {
    if (error.name === "AbortError") return;
    setStale(true);
    if (error instanceof Offline) {
      setOffline(true);
      return;
    }
    setOffline(false);
    if (error instanceof ApiError && error.status === 401) {
      this.signOut("Your session has ended: sign in again.");
      return;
    }
    if (error instanceof ApiError && error.status === 400 && error.fieldErrors.length) {
      this.filters.showProblems(this.fieldProblems(error));
      return;
    }
    $("filter-error").textContent = error instanceof ApiError
      ? problemWords(error.status, error.problem.detail)
      : String(error.message || error);
  }

  body(fields = {}) {
    return requestBody(this.view, this.schema, { tenant: this.api.session.tenant, now: this.now(), ...fields });
  }

  async loadData({ markNew = false } = {}) {
    const answer = await this.api.post("recentCallData", this.body(), "data");
    this.renderCalls(answer, { markNew });
    return answer;
  }

  async loadStats() {
    const view = this.view;
    const { interval, coarser } = chartInterval(view, this.schema, this.now());
    const body = { ...this.body(), interval, groupBy: view.by, serviceLevelSeconds: view.serviceLevel };
    delete body.page;
    delete body.rows;
    let stats;
    let note = coarser ? `Shown by ${interval}: the window is too long to chart by the hour.` : "";
    try {
      stats = await this.api.post("recentCallStats", body, "stats");
    } catch (error) {
      const tooMany = error instanceof ApiError && error.status === 400
        && error.fieldErrors.some((item) => item.field === "interval");
      if (!tooMany) throw error;
      const coarsest = this.schema.intervals.at(-1);
      if (interval === coarsest) {
        // Even the coarsest interval holds too many buckets: say so in words, without a chart.
        this.chart.clear("This window is too long to chart; choose a shorter period to see the chart.");
        this.breakdowns.render(null);
        return null;
      }
      stats = await this.api.post("recentCallStats", { ...body, interval: coarsest }, "stats");
      note = `Shown by ${coarsest}: the window is too long to chart by the ${interval}.`;
    }
    renderSummary(stats);
    $("chart-title").textContent = `Calls per ${stats.interval} (${stats.timezone})`;
    this.chart.draw(stats, this.now());
    this.breakdowns.render(stats.breakdown ?? null);
    $("sum-service").textContent = formatRate(stats.breakdown?.serviceLevel ?? null);
    $("sum-service-label").textContent = `Service level (${formatCount(this.view.serviceLevel)} s)`;
    $("note").textContent = note;
    return stats;
  }

  get tenant() {
    return this.api.session.tenant;
  }

  // When the bell was last looked at: on a first visit, from then on. Never after the server's
  // now (a clock that went back, or another tab ahead of this one), so the window is valid.
  bellSeenAt() {
    const key = `${BELL_SEEN_KEY}.${this.tenant}`;
    const saved = Number(localStorage.getItem(key));
    const now = Math.floor(this.now());
    if (Number.isInteger(saved) && saved > 0) return Math.min(saved, now);
    localStorage.setItem(key, String(now));
    return now;
  }

  async loadBell() {
    const seconds = alertSeconds(this.tenant);
    if (seconds === null) {
      $("bell-count").textContent = "0";
      $("bell").hidden = true;
      return;
    }
    const since = this.bellSeenAt();
    const body = bellBody(this.view, this.schema, { tenant: this.tenant, now: Math.floor(this.now()), since, seconds });
    const answer = await this.api.post("recentCallData", body, "bell");
    $("bell").hidden = false;
    // Sound only when the count goes up: a count the supervisor has already heard stays quiet.
    if (answer.hits > this.bellHeard && localStorage.getItem(SOUND_KEY) === "on") chime();
    this.bellHeard = answer.hits;
    $("bell").classList.toggle("ringing", answer.hits > 0);
    $("bell-count").textContent = formatCount(answer.hits);
    $("bell").setAttribute("aria-label", `Bell: ${formatCount(answer.hits)} new calls waited ${formatDuration(seconds * 1000)} or more since you looked; show them`);
  }

  // The bell clicked: show its calls, and count from now on.
  lookAtBell() {
    const seconds = alertSeconds(this.tenant);
    if (seconds === null) return undefined;
    const since = this.bellSeenAt();
    const now = Math.floor(this.now());
    localStorage.setItem(`${BELL_SEEN_KEY}.${this.tenant}`, String(now));
    return this.act({ type: "bell", since, now, seconds });
  }

  // Reload what a change affects: data (the page), stats (chart, figures, breakdown), bell.
  async load({ data = true, stats = true, markNew = false } = {}) {
    const found = problems(this.view, this.schema);
    if (found.length) {
      this.filters.showProblems(found);
      return;
    }
    this.filters.clearProblems();
    const started = performance.now();
    // Only the newest load may end the loading state: an older one ends when it is aborted.
    const generation = ++this.generation;
    this.setLoading(true);
    try {
      const work = [];
      if (data) work.push(this.loadData({ markNew }));
      if (stats) work.push(this.loadStats());
      work.push(this.loadBell());
      const results = await Promise.allSettled(work);
      const failure = results.find((result) => result.status === "rejected");
      if (failure) {
        this.failed(failure.reason);
        if (failure.reason?.name === "AbortError") return;
      } else {
        setOffline(false);
        setStale(false);
      }
      if (this.implicitDefault && stats && !failure) {
        this.implicitDefault = false;
        if (this.hits === 0 && this.view.period === "today") {
          // Nothing yet today (early morning, a weekend): open on the last 7 days instead.
          await this.act({ type: "fallback" });
          $("note").textContent = "No calls yet today: showing the last 7 days.";
          return;
        }
      }
      $("updated").textContent = `Updated at ${formatTime(this.now(), this.view.zone)}`;
      const mark = this.firstRender ? "first-render" : "filter-change";
      performance.measure(mark, { start: started, end: performance.now() });
      if (this.firstRender && this.restored) {
        // Opened with a session already in the tab: from navigation to the first full render.
        performance.measure("page-ready", { start: 0, end: performance.now() });
      }
      this.firstRender = false;
      document.body.dataset.ready = String(Date.now());
    } finally {
      if (generation === this.generation) {
        this.setLoading(false);
        this.schedule();
      }
    }
  }

  // -- live -------------------------------------------------------------------------------

  schedule() {
    clearTimeout(this.timer);
    const live = this.api && includesNow(this.view, this.now());
    $("pause").hidden = !live;
    if (!live) {
      $("updated").textContent = this.api ? `${$("updated").textContent.replace(/ · not live$/, "")} · not live` : "";
      return;
    }
    if (this.paused) return;
    this.timer = setTimeout(() => {
      if (!this.paused && !this.details.isOpen && !this.download) this.load({ markNew: true });
      else this.schedule();
    }, refreshSeconds() * 1000);
  }

  togglePause() {
    this.paused = !this.paused;
    $("pause").setAttribute("aria-pressed", String(this.paused));
    $("pause").textContent = this.paused ? "Resume live updates" : "Pause live updates";
    if (this.paused) clearTimeout(this.timer);
    else this.load({ markNew: true });
  }

  // -- CSV --------------------------------------------------------------------------------

  async streamed(response, status, signal) {
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
  async paged(status, signal) {
    const keys = this.schema.dataKeys;
    const parts = [csvLine(keys)];
    let page = 1;
    let hits = Infinity;
    let count = 0;
    while ((page - 1) * CSV_PAGE_ROWS < hits) {
      if (signal.aborted) throw new DOMException("cancelled", "AbortError");
      const response = await this.api.request("recentCallData", this.body({ page, rows: CSV_PAGE_ROWS }), signal);
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

  async downloadCsv() {
    const status = $("download-status");
    const controller = new AbortController();
    this.download = controller;
    $("download").hidden = true;
    $("cancel-download").hidden = false;
    status.textContent = "Preparing the download…";
    try {
      const response = await this.api.exportStream(this.body({ page: 1, rows: CSV_PAGE_ROWS }), controller.signal);
      const result = response
        ? await this.streamed(response, status, controller.signal)
        : await this.paged(status, controller.signal);
      const today = new Date(this.now()).toISOString().slice(0, 10);
      save(result.blob, result.named ?? csvFilename(this.api.session.tenant, this.view, today));
      status.textContent = `Downloaded ${formatCount(result.count)} calls.`;
    } catch (error) {
      if (error.name === "AbortError") status.textContent = "Download cancelled.";
      else {
        status.textContent = "";
        this.failed(error);
      }
    } finally {
      this.download = null;
      $("download").hidden = false;
      $("cancel-download").hidden = true;
      this.schedule();
    }
  }

  // -- sign in ----------------------------------------------------------------------------

  async start(session) {
    this.api = new Api(session);
    this.bellHeard = 0;
    const [facets, directory] = await Promise.all([
      this.api.post("recentCallFacets", { tenantId: session.tenant }),
      this.api.directory(),
    ]);
    // The tenant's zone is the default (a URL's tz= still wins); without one, the browser's.
    this.zone = facets.timezone && knownZone(facets.timezone) ? facets.timezone : browserZone();
    this.view = defaults(this.schema, this.zone);
    const names = directoryMaps(directory);
    this.filters.offer(facets, names);
    for (const view of [this.table, this.details, this.breakdowns]) view.names = names;
    this.table.country = this.details.country = REGION_COUNTRY[session.region] ?? "US";
    const seconds = alertSeconds(session.tenant);
    $("alert-wait").value = seconds ?? "";
    this.table.alertMs = seconds === null ? null : seconds * 1000;
    this.showSignedIn(true);
  }

  openFromUrl() {
    this.implicitDefault = location.search === "";
    return this.act({ type: "open", search: location.search });
  }

  async signIn(event) {
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
      await this.start(session);
    } catch (error) {
      this.api = null;
      $("sign-in-error").textContent = error instanceof Offline
        ? "The server cannot be reached. Check your connection and try again."
        : error instanceof ApiError ? problemWords(error.status, error.problem.detail) : String(error);
      return;
    }
    saveSession(session);
    $("sign-in-form").reset();
    await this.openFromUrl();
    $("results").focus({ preventScroll: true });
  }

  signOut(message = "") {
    forgetSession();
    clearTimeout(this.timer);
    this.api = null;
    this.details.close({ quiet: true });
    this.showSignedIn(false);
    $("calls-body").replaceChildren();
    $("sign-in-error").textContent = message;
    $("api-key").focus();
  }

  // -- set up -----------------------------------------------------------------------------

  wire(act) {
    $("sign-in-form").addEventListener("submit", (event) => this.signIn(event));
    $("sign-in-button").disabled = false;
    $("sign-in-wait").hidden = true;
    $("sign-out").addEventListener("click", () => this.signOut());
    $("pause").addEventListener("click", () => this.togglePause());
    $("download").addEventListener("click", () => this.downloadCsv());
    $("cancel-download").addEventListener("click", () => this.download?.abort());
    $("reset-filters").addEventListener("click", () => act("reset"));
    $("empty-clear").addEventListener("click", () => act("clearFilters"));
    $("empty-week").addEventListener("click", () => act("widen"));
    $("rows").addEventListener("change", () => act("rows", { rows: Number($("rows").value) }));
    $("first").addEventListener("click", () => act("page", { page: 1 }));
    $("prev").addEventListener("click", () => act("page", { page: this.view.page - 1 }));
    $("next").addEventListener("click", () => act("page", { page: this.view.page + 1 }));
    $("last").addEventListener("click", () => act("lastPage"));
    $("page-number").addEventListener("change", () => {
      const page = Number($("page-number").value);
      if (Number.isInteger(page) && page >= 1) act("page", { page });
      else $("page-number").value = String(this.view.page);
    });
    $("bell").addEventListener("click", () => this.lookAtBell());
    $("alert-wait").addEventListener("change", () => {
      const text = $("alert-wait").value.trim();
      if (text === "" || /^[0-9]{1,6}$/.test(text)) {
        $("alert-wait").removeAttribute("aria-invalid");
        // Empty switches the bell off for this tenant, until a threshold is set again.
        localStorage.setItem(`${ALERT_KEY}.${this.tenant}`, text);
        this.table.alertMs = text === "" ? null : Number(text) * 1000;
        this.load({ stats: false });
      } else {
        $("alert-wait").setAttribute("aria-invalid", "true");
        $("filter-error").textContent = "Alert: enter a whole number of seconds, or leave it empty.";
        $("alert-wait").focus();
      }
    });
    if (!globalThis.libphonenumber) {
      $("phone-library").addEventListener("load", () => {
        this.table.reformatPhones();
        if (this.details.call) this.details.open(this.details.call, this.details.returnTo);
      });
    }
    $("bell-sound").checked = localStorage.getItem(SOUND_KEY) === "on";
    $("bell-sound").addEventListener("change", () => {
      const on = $("bell-sound").checked;
      localStorage.setItem(SOUND_KEY, on ? "on" : "off");
      if (on) wakeAudio().then(chime, () => {});  // a sample, so the level is known
    });
    $("refresh-every").value = String(refreshSeconds());
    $("refresh-every").addEventListener("change", () => {
      localStorage.setItem(REFRESH_KEY, $("refresh-every").value);
      this.schedule();
    });
    window.addEventListener("popstate", () => {
      if (this.api) act("popstate", { search: location.search });
    });
    window.addEventListener("online", () => { if (this.api) this.load(); });
    window.addEventListener("offline", () => {
      setOffline(true);
      setStale(true);
    });
  }
}

// Until the page has its schema, the sign-in button stays off (the form is not wired yet): a
// failed fetch is tried again after 2 s, doubling to 30 s, or at once when the browser is back
// online; one try at a time.
const SETUP_RETRY_MS = [2000, 30000];
let setUpTry = null;

async function setUp(waitMs = SETUP_RETRY_MS[0]) {
  let schema;
  try {
    schema = await fetchSchema();
  } catch {
    setOffline(true);
    $("sign-in-wait").textContent = "The server cannot be reached. Trying again…";
    const again = () => {
      if (!setUpTry) return;
      clearTimeout(setUpTry.timer);
      window.removeEventListener("online", setUpTry.online);
      setUpTry = null;
      setUp(Math.min(waitMs * 2, SETUP_RETRY_MS[1]));
    };
    setUpTry = { timer: setTimeout(again, waitMs), online: again };
    window.addEventListener("online", again);
    return;
  }
  setOffline(false);
  const page = new ConsolePage(schema, browserZone());
  const session = loadSession();
  if (!session) {
    page.showSignedIn(false);
    return;
  }
  page.restored = true;
  try {
    await page.start(session);
  } catch (error) {
    if (error instanceof ApiError) forgetSession();
    page.showSignedIn(false);
    if (error instanceof Offline) setOffline(true);
    return;
  }
  await page.openFromUrl();
}

setUp();
