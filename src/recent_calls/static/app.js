// The recent calls page: sign in, filters, summary and chart, a sortable paged table, CSV.
// Plain modules, no build step; no inline handlers, so a CSP of script-src 'self' holds.

import { drawChart } from "./chart.js";

const API = "/customerexperience/v1";
const SESSION_KEY = "recentCalls.session";
const CSV_PAGE_ROWS = 5000;
const CSV_MAX_ROWS = 200000;

// The keys of a call, in the API's order: the CSV's columns.
const DATA_KEYS = [
  "callDuration", "queueId", "agentCallHandlingDuration", "callDate", "agentId",
  "muteDuration", "scheduleHours", "timeInIVR", "agentGroup", "transferCount",
  "postCallSurvey", "callType", "callerName", "dialedNumber", "callDateOnly", "hungupBy",
  "holdDuration", "voiceComment", "callId", "abandonTime", "callerNumber", "callSubType",
  "totalScore", "transactionId", "destinationNumber", "voiceCommentFileNames", "tenantId",
  "maximumHoldDuration", "waitTime", "callTime", "callerPhoneNumber",
];

// The table's columns: key in a call, heading, sort column (if sortable), how to show it.
const COLUMNS = [
  { key: "callDate", label: "Date and time", sort: "callDate" },
  { key: "callerName", label: "Caller name", sort: "callerName" },
  { key: "callerNumber", label: "Caller number", sort: "callerNumber" },
  { key: "dialedNumber", label: "Dialed number" },
  { key: "queueId", label: "Queue", sort: "queueId" },
  { key: "agentId", label: "Agent", sort: "agentId" },
  { key: "agentGroup", label: "Agent group" },
  { key: "callDuration", label: "Duration", sort: "callDuration", kind: "duration" },
  { key: "agentCallHandlingDuration", label: "Handling", sort: "agentCallHandlingDuration",
    kind: "duration" },
  { key: "waitTime", label: "Wait", sort: "waitTime", kind: "duration" },
  { key: "timeInIVR", label: "IVR", sort: "timeInIVR", kind: "duration" },
  { key: "holdDuration", label: "Hold", sort: "holdDuration", kind: "duration" },
  { key: "maximumHoldDuration", label: "Longest hold", sort: "maximumHoldDuration",
    kind: "duration" },
  { key: "muteDuration", label: "Mute", sort: "muteDuration", kind: "duration" },
  { key: "abandonTime", label: "Abandoned after", sort: "abandonTime", kind: "duration" },
  { key: "transferCount", label: "Transfers", sort: "transferCount", kind: "count" },
  { key: "callType", label: "Type" },
  { key: "callSubType", label: "Sub type" },
  { key: "hungupBy", label: "Hung up by" },
  { key: "scheduleHours", label: "Schedule" },
  { key: "callId", label: "Call id" },
];

const COUNT_RANGES = [
  ["agentHoldCount", "Holds placed by agents"],
  ["agentMuteCount", "Mutes"],
  ["transferCount", "Transfers"],
];
const DURATION_RANGES = [
  ["callDuration", "Call duration"],
  ["timeInQueue", "Time in queue"],
  ["timeInIVR", "Time in IVR"],
  ["agentCallDuration", "Agent handling time"],
  ["agentHoldDuration", "Hold time"],
];
const FACETS = { agents: "agents", queues: "queues", groups: "groups", channels: "channels" };

const $ = (id) => document.getElementById(id);

const state = { session: null, page: 1, sortColumn: null, sortOrder: null, hits: 0 };

class ApiError extends Error {
  constructor(status, problem) {
    const fields = (problem.errors || []).map((e) => `${e.field}: ${e.message}`);
    super([problem.detail || `The server answered ${status}.`, ...fields].join("\n"));
    this.status = status;
  }
}

// -- numbers and times --------------------------------------------------------------------

export function formatDuration(value) {
  const ms = Number(value);
  if (!Number.isFinite(ms)) return "";
  const total = Math.round(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

const integer = new Intl.NumberFormat("en-US");

function zoneOffsetMs(zone, epochMs) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(new Date(epochMs));
  const get = (type) => Number(parts.find((part) => part.type === type).value);
  const wall = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"),
    get("second"));
  return wall - Math.floor(epochMs / 1000) * 1000;
}

// A datetime-local value ("2024-03-10T14:00[:ss]") read in `zone`, as epoch ms.
function wallToEpoch(value, zone) {
  const [day, time] = value.split("T");
  const [year, month, date] = day.split("-").map(Number);
  const [hours, minutes, seconds = 0] = time.split(":").map(Number);
  const wall = Date.UTC(year, month - 1, date, hours, minutes, seconds);
  const guess = wall - zoneOffsetMs(zone, wall);
  return wall - zoneOffsetMs(zone, guess);
}

// -- the API ------------------------------------------------------------------------------

async function post(endpoint, body) {
  const { apiKey, token, region } = state.session;
  const response = await fetch(`${API}/${endpoint}/${encodeURIComponent(region)}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "8x8-apikey": apiKey, token },
    body: JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  const document_ = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, document_);
  return document_;
}

// -- sign in ------------------------------------------------------------------------------

function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

function showSignedIn(signedIn) {
  $("sign-in").hidden = signedIn;
  $("workspace").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
  $("who").hidden = !signedIn;
  if (signedIn) $("who").textContent = `${state.session.tenant} (${state.session.region})`;
}

async function start(session) {
  state.session = session;
  const facets = await post("recentCallFacets", { tenantId: session.tenant });
  for (const [facet, id] of Object.entries(FACETS)) {
    $(id).replaceChildren(...facets[facet].map((value) => new Option(value, value)));
  }
  showSignedIn(true);
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
  if (!session.apiKey || !session.token || !session.tenant) {
    $("sign-in-error").textContent = "API key, token and tenant id are all needed.";
    return;
  }
  try {
    await start(session);
  } catch (error) {
    state.session = null;
    $("sign-in-error").textContent = error.message;
    return;
  }
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  $("sign-in-form").reset();
  $("duration").focus();
  await refresh();
}

function signOut() {
  sessionStorage.removeItem(SESSION_KEY);
  state.session = null;
  showSignedIn(false);
  $("calls-body").replaceChildren();
  $("api-key").focus();
}

// -- the query ----------------------------------------------------------------------------

function selected(id) {
  return Array.from($(id).selectedOptions, (option) => option.value);
}

function bound(id) {
  const text = $(id).value.trim();
  return text === "" ? "-1" : text;
}

function rangeFilters(body) {
  for (const [name] of COUNT_RANGES) {
    const low = bound(`${name}-min`);
    const high = bound(`${name}-max`);
    if (low !== "-1" || high !== "-1") body[name] = `range:${low},${high}`;
  }
  for (const [name] of DURATION_RANGES) {
    const low = bound(`${name}-min`);
    const high = bound(`${name}-max`);
    if (low !== "-1" || high !== "-1") body[name] = `${$(`${name}-unit`).value}:${low},${high}`;
  }
}

// The recentCallData body of the current filters (page and rows as given).
function queryBody(page, rows) {
  const timezone = $("timezone").value.trim() || "GMT";
  const body = { tenantId: state.session.tenant, page, rows, timezone };
  if ($("duration").value === "range") {
    const from = $("range-from").value;
    const to = $("range-to").value;
    if (!from || !to) throw new Error("Choose both ends of the date and time range.");
    try {
      // "To" is inclusive to the end of its second.
      body.timeRange = `${wallToEpoch(from, timezone)}-${wallToEpoch(to, timezone) + 999}`;
    } catch {
      throw new Error(`${timezone} is not a time zone this browser knows.`);
    }
  } else {
    body.duration = $("duration").value;
  }
  const caller = $("caller").value.trim();
  if (caller) body.callerName = [caller];
  for (const [id, field] of [["agents", "tenantAgents"], ["queues", "tenantQueues"],
    ["groups", "tenantGroups"], ["channels", "tenantChannels"]]) {
    const values = selected(id);
    if (values.length) body[field] = values;
  }
  rangeFilters(body);
  if (state.sortColumn) body.sortColumn = state.sortColumn;
  if (state.sortOrder) body.sortOrder = state.sortOrder;
  return body;
}

function chartInterval(body) {
  const chosen = $("interval").value;
  if (chosen !== "auto") return chosen;
  if (body.duration === "today" || body.duration === "yesterday") return "hour";
  if (body.timeRange) {
    const [from, to] = body.timeRange.split("-").map(Number);
    return to - from <= 3 * 86400000 ? "hour" : "day";
  }
  return "day";
}

// -- rendering ----------------------------------------------------------------------------

function buildHead() {
  const cells = COLUMNS.map((column) => {
    const th = document.createElement("th");
    th.scope = "col";
    if (!column.sort) {
      th.textContent = column.label;
      return th;
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sort";
    button.dataset.sort = column.sort;
    button.textContent = column.label;
    button.addEventListener("click", () => sortBy(column.sort));
    th.append(button);
    return th;
  });
  $("calls-head").replaceChildren(...cells);
}

function markSort() {
  const active = state.sortColumn || "callDate";
  const order = state.sortOrder || "desc";
  for (const button of document.querySelectorAll("button.sort")) {
    const th = button.parentElement;
    if (button.dataset.sort === active) {
      th.setAttribute("aria-sort", order === "asc" ? "ascending" : "descending");
      button.dataset.order = order;
    } else {
      th.removeAttribute("aria-sort");
      delete button.dataset.order;
    }
  }
}

function cell(call, column) {
  const td = document.createElement("td");
  const value = call[column.key];
  if (column.kind === "duration") {
    td.textContent = formatDuration(value);
    td.title = `${Number(value)} ms`;
    td.className = "number";
  } else if (column.kind === "count") {
    td.textContent = String(Math.round(Number(value)));
    td.className = "number";
  } else {
    td.textContent = value;
  }
  return td;
}

function renderCalls(answer, rows) {
  state.hits = answer.hits;
  const pages = Math.max(1, Math.ceil(answer.hits / rows));
  $("hits").textContent = `${integer.format(answer.hits)} calls match`;
  $("page-info").textContent = `Page ${integer.format(state.page)} of ${integer.format(pages)}`;
  $("first").disabled = state.page <= 1;
  $("prev").disabled = state.page <= 1;
  $("next").disabled = state.page >= pages;
  const body = answer.data.map((call) => {
    const tr = document.createElement("tr");
    tr.dataset.callId = call.callId;
    tr.append(...COLUMNS.map((column) => cell(call, column)));
    return tr;
  });
  $("calls-body").replaceChildren(...body);
  markSort();
}

function renderStats(stats) {
  const totals = stats.totals;
  $("sum-calls").textContent = integer.format(totals.calls);
  $("sum-handle").textContent =
    totals.avgHandleTime === null ? "–" : formatDuration(totals.avgHandleTime);
  $("sum-wait").textContent = totals.avgWaitTime === null ? "–" : formatDuration(totals.avgWaitTime);
  $("sum-abandon").textContent =
    totals.abandonRate === null ? "–" : `${(totals.abandonRate * 100).toFixed(1)} %`;
  $("sum-transfers").textContent = integer.format(totals.transfers);
  $("chart-title").textContent = `Calls per ${stats.interval} (${stats.timezone})`;
  drawChart($("chart"), stats);
}

// -- actions ------------------------------------------------------------------------------

function rowsPerPage() {
  return Number($("rows").value);
}

async function loadPage() {
  const rows = rowsPerPage();
  const answer = await post("recentCallData", queryBody(state.page, rows));
  renderCalls(answer, rows);
}

async function guarded(work) {
  $("filter-error").textContent = "";
  document.body.classList.add("busy");
  try {
    await work();
  } catch (error) {
    $("filter-error").textContent = error.message;
    if (error.status === 401) signOut();
  } finally {
    document.body.classList.remove("busy");
  }
}

async function refresh() {
  state.page = 1;
  $("download-status").textContent = "";
  await guarded(async () => {
    const body = queryBody(1, rowsPerPage());
    const [answer, stats] = await Promise.all([
      post("recentCallData", body),
      post("recentCallStats", { ...body, interval: chartInterval(body) }),
    ]);
    renderCalls(answer, rowsPerPage());
    renderStats(stats);
  });
}

function goTo(page) {
  state.page = page;
  return guarded(loadPage);
}

function sortBy(column) {
  const current = state.sortColumn || "callDate";
  const order = state.sortOrder || "desc";
  state.sortOrder = column === current && order === "desc" ? "asc" : "desc";
  state.sortColumn = column;
  return goTo(1);
}

function csvField(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

async function downloadCsv() {
  const status = $("download-status");
  await guarded(async () => {
    const lines = [DATA_KEYS.join(",")];
    let page = 1;
    let hits = Infinity;
    while ((page - 1) * CSV_PAGE_ROWS < Math.min(hits, CSV_MAX_ROWS)) {
      status.textContent = `Fetching page ${page}…`;
      const answer = await post("recentCallData", queryBody(page, CSV_PAGE_ROWS));
      hits = answer.hits;
      for (const call of answer.data) {
        lines.push(DATA_KEYS.map((key) => csvField(call[key])).join(","));
      }
      if (answer.data.length < CSV_PAGE_ROWS) break;
      page += 1;
    }
    const count = lines.length - 1;
    const blob = new Blob([`${lines.join("\r\n")}\r\n`], { type: "text/csv;charset=utf-8" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `recent-calls-${state.session.tenant}.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    status.textContent = hits > CSV_MAX_ROWS
      ? `Downloaded the first ${integer.format(count)} of ${integer.format(hits)} calls.`
      : `Downloaded ${integer.format(count)} calls.`;
  });
}

// -- set up -------------------------------------------------------------------------------

function rangeInputs(container, ranges, withUnit) {
  for (const [name, label] of ranges) {
    const group = document.createElement("div");
    group.className = "range";
    group.setAttribute("role", "group");
    group.setAttribute("aria-labelledby", `${name}-label`);
    const title = document.createElement("span");
    title.id = `${name}-label`;
    title.className = "range-label";
    title.textContent = label;
    group.append(title);
    for (const [end, text] of [["min", "at least"], ["max", "at most"]]) {
      const input = document.createElement("input");
      input.type = "number";
      input.min = "0";
      input.step = "1";
      input.id = `${name}-${end}`;
      input.inputMode = "numeric";
      const inputLabel = document.createElement("label");
      inputLabel.htmlFor = input.id;
      inputLabel.textContent = text;
      group.append(inputLabel, input);
    }
    if (withUnit) {
      const unit = document.createElement("select");
      unit.id = `${name}-unit`;
      unit.append(new Option("seconds", "sec"), new Option("minutes", "min"));
      const unitLabel = document.createElement("label");
      unitLabel.htmlFor = unit.id;
      unitLabel.textContent = "in";
      group.append(unitLabel, unit);
    }
    container.append(group);
  }
}

function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "GMT";
}

function toggleRange() {
  const custom = $("duration").value === "range";
  for (const element of document.querySelectorAll(".range-only")) element.hidden = !custom;
}

function setUp() {
  buildHead();
  rangeInputs($("count-ranges"), COUNT_RANGES, false);
  rangeInputs($("duration-ranges"), DURATION_RANGES, true);
  const zones = ["GMT", "UTC", ...(Intl.supportedValuesOf?.("timeZone") ?? [])];
  $("timezones").replaceChildren(...zones.map((zone) => new Option(zone)));
  $("timezone").value = browserZone();
  toggleRange();

  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("duration").addEventListener("change", toggleRange);
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  $("reset-filters").addEventListener("click", () => {
    $("filters").reset();
    $("timezone").value = browserZone();
    state.sortColumn = null;
    state.sortOrder = null;
    toggleRange();
    refresh();
  });
  $("download").addEventListener("click", downloadCsv);
  $("rows").addEventListener("change", () => goTo(1));
  $("first").addEventListener("click", () => goTo(1));
  $("prev").addEventListener("click", () => goTo(Math.max(1, state.page - 1)));
  $("next").addEventListener("click", () => goTo(state.page + 1));

  const session = loadSession();
  if (session) {
    start(session)
      .then(refresh)
      .catch(() => {
        sessionStorage.removeItem(SESSION_KEY);
        showSignedIn(false);
      });
  } else {
    showSignedIn(false);
  }
}

setUp();
