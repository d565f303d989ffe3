// The page's view as plain data: filters <-> request body <-> URL query string.
// Pure: no DOM, no fetch, no clock (the caller passes "now"). The names of the filters,
// durations, sort columns and intervals come from the server's schema (/static/schema.json).

export const LAST_7_DAYS = "last7";
export const RANGE = "range";
export const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const ROWS_CHOICES = [25, 50, 100, 500];
// Rolling periods ending now, as the page computes them: a supervisor's "what just happened".
export const ROLLING = { last15m: 15 * 60_000, last1h: HOUR_MS, last4h: 4 * HOUR_MS };

export function rowsChoices(schema) {
  return ROWS_CHOICES.filter((rows) => rows <= schema.maxRows);
}

// The periods offered: rolling ones, the server's named durations, the last 7 days, a range.
export function periods(schema) {
  return [...Object.keys(ROLLING), ...schema.durations, LAST_7_DAYS, RANGE];
}

// The view a fresh page opens on: today's calls, newest first.
export function defaults(schema, zone = "GMT") {
  return {
    period: schema.durations.includes("today") ? "today" : schema.durations[0],
    from: null,
    to: null,
    zone,
    caller: "",
    outcome: "",
    lists: Object.fromEntries(schema.listFilters.map((name) => [name, []])),
    counts: Object.fromEntries(schema.countFilters.map((name) => [name, { min: "", max: "" }])),
    durations: Object.fromEntries(
      schema.durationFilters.map((name) => [name, { min: "", max: "", unit: schema.durationUnits[0] }]),
    ),
    sort: null,
    order: null,
    page: 1,
    rows: ROWS_CHOICES[0],
    interval: "auto",
    by: schema.breakdowns[0],
    serviceLevel: schema.serviceLevelSeconds,
    call: null,
  };
}

const WHOLE = /^[0-9]{1,12}$/;
const EPOCH = /^[0-9]{1,15}$/;

function positive(text, fallback) {
  return WHOLE.test(text ?? "") && Number(text) >= 1 ? Number(text) : fallback;
}

// A view read from a URL query string; anything unknown or malformed keeps its default.
export function fromQuery(search, schema, zone = "GMT") {
  const params = new URLSearchParams(search);
  const view = defaults(schema, zone);
  const period = params.get("period");
  if (period && periods(schema).includes(period)) view.period = period;
  if (view.period === RANGE) {
    const from = params.get("from");
    const to = params.get("to");
    if (EPOCH.test(from ?? "") && EPOCH.test(to ?? "")) {
      view.from = Number(from);
      view.to = Number(to);
    } else {
      view.period = defaults(schema, zone).period;
    }
  }
  if (params.get("tz")) view.zone = params.get("tz");
  view.caller = params.get("caller") ?? "";
  const outcome = params.get("outcome");
  if (outcome && schema.outcomes.includes(outcome)) view.outcome = outcome;
  for (const name of schema.listFilters) view.lists[name] = params.getAll(name).filter(Boolean);
  for (const name of schema.countFilters) {
    const [min = "", max = ""] = (params.get(name) ?? "").split(",");
    view.counts[name] = { min, max };
  }
  for (const name of schema.durationFilters) {
    const text = params.get(name) ?? "";
    const [unit, bounds = ""] = text.includes(":") ? text.split(":", 2) : ["", text];
    const [min = "", max = ""] = bounds.split(",");
    view.durations[name] = {
      min, max, unit: schema.durationUnits.includes(unit) ? unit : schema.durationUnits[0],
    };
  }
  const sort = params.get("sort");
  if (sort && schema.sortColumns.includes(sort)) view.sort = sort;
  const order = params.get("order");
  if (order === "asc" || order === "desc") view.order = order;
  view.page = positive(params.get("page"), 1);
  const rows = positive(params.get("rows"), view.rows);
  if (rowsChoices(schema).includes(rows)) view.rows = rows;
  const interval = params.get("interval");
  if (interval && schema.intervals.includes(interval)) view.interval = interval;
  const by = params.get("by");
  if (by && schema.breakdowns.includes(by)) view.by = by;
  const level = params.get("sl");
  if (WHOLE.test(level ?? "") && Number(level) <= 86400) view.serviceLevel = Number(level);
  view.call = params.get("call") || null;
  return view;
}

// The URL query string of a view: only what differs from the defaults, in a stable order.
export function toQuery(view, schema, zone = "GMT") {
  const base = defaults(schema, zone);
  const params = new URLSearchParams();
  if (view.period !== base.period) params.set("period", view.period);
  if (view.period === RANGE && view.from !== null && view.to !== null) {
    params.set("from", String(view.from));
    params.set("to", String(view.to));
  }
  if (view.zone !== base.zone) params.set("tz", view.zone);
  if (view.caller) params.set("caller", view.caller);
  if (view.outcome) params.set("outcome", view.outcome);
  for (const name of schema.listFilters) {
    for (const value of view.lists[name] ?? []) params.append(name, value);
  }
  for (const name of schema.countFilters) {
    const { min, max } = view.counts[name];
    if (min !== "" || max !== "") params.set(name, `${min},${max}`);
  }
  for (const name of schema.durationFilters) {
    const { min, max, unit } = view.durations[name];
    if (min !== "" || max !== "") params.set(name, `${unit}:${min},${max}`);
  }
  if (view.sort) params.set("sort", view.sort);
  if (view.order) params.set("order", view.order);
  if (view.page !== 1) params.set("page", String(view.page));
  if (view.rows !== base.rows) params.set("rows", String(view.rows));
  if (view.interval !== base.interval) params.set("interval", view.interval);
  if (view.by !== base.by) params.set("by", view.by);
  if (view.serviceLevel !== base.serviceLevel) params.set("sl", String(view.serviceLevel));
  if (view.call) params.set("call", view.call);
  const text = params.toString();
  return text ? `?${text}` : "";
}

export function knownZone(zone) {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

// The problems of a view before it is sent: [{field, end?, kind}], empty when it can go.
export function problems(view, schema) {
  const found = [];
  if (!view.zone || !knownZone(view.zone)) found.push({ field: "timezone", kind: "zone" });
  if (view.period === RANGE) {
    if (view.from === null || view.to === null) found.push({ field: "timeRange", kind: "range" });
    else if (view.to < view.from) found.push({ field: "timeRange", kind: "rangeOrder" });
  }
  const bounds = (field, { min, max }) => {
    for (const [end, text] of [["min", min], ["max", max]]) {
      if (text !== "" && !WHOLE.test(text)) found.push({ field, end, kind: "whole" });
    }
    if (WHOLE.test(min) && WHOLE.test(max) && Number(min) > Number(max)) {
      found.push({ field, end: "min", kind: "order" });
    }
  };
  for (const name of schema.countFilters) bounds(name, view.counts[name]);
  for (const name of schema.durationFilters) bounds(name, view.durations[name]);
  return found;
}

const bound = (text) => (text === "" ? "-1" : String(Number(text)));

// The window as [start, end] epoch ms when the page can know it, else null (named periods
// other than the last 7 days are the server's to compute).
export function knownWindow(view, now) {
  if (Object.hasOwn(ROLLING, view.period)) return [now - ROLLING[view.period], now];
  if (view.period === LAST_7_DAYS) return [now - 7 * DAY_MS, now];
  if (view.period === RANGE && view.from !== null && view.to !== null) return [view.from, view.to];
  return null;
}

// Whether the window reaches the present, so the page should refresh it on a timer.
export function includesNow(view, now) {
  if (view.period === "yesterday") return false;
  const window = knownWindow(view, now);
  return window === null ? true : window[1] >= now - 60_000;
}

// Whether the view's window lies within one day, so a row's date would repeat on every row.
export function showsOneDay(view) {
  return view.period === "today" || view.period === "yesterday" || Object.hasOwn(ROLLING, view.period);
}

// The recentCallData body of a view, for `tenant` at server time `now`; page and rows given.
export function requestBody(view, schema, { tenant, now, page = view.page, rows = view.rows }) {
  const body = { tenantId: tenant, page, rows, timezone: view.zone };
  const window = knownWindow(view, now);
  if (window) body.timeRange = `${window[0]}-${window[1]}`;
  else body.duration = view.period;
  if (view.caller.trim()) body.callerName = [view.caller.trim()];
  if (view.outcome) body.outcome = [view.outcome];
  for (const name of schema.listFilters) {
    if (view.lists[name]?.length) body[name] = [...view.lists[name]];
  }
  for (const name of schema.countFilters) {
    const { min, max } = view.counts[name];
    if (min !== "" || max !== "") body[name] = `range:${bound(min)},${bound(max)}`;
  }
  for (const name of schema.durationFilters) {
    const { min, max, unit } = view.durations[name];
    if (min !== "" || max !== "") body[name] = `${unit}:${bound(min)},${bound(max)}`;
  }
  if (view.sort) body.sortColumn = view.sort;
  if (view.order) body.sortOrder = view.order;
  return body;
}

// The bell's question: the view's calls that waited `seconds` or more and started since `since`
// (when the bell was last looked at), up to `now`; only the count is read.
export function bellBody(view, schema, { tenant, now, since, seconds }) {
  const window = { ...view, period: RANGE, from: since, to: now };
  const body = requestBody(window, schema, { tenant, now, page: 1, rows: 1 });
  body.timeInQueue = `sec:${seconds},-1`;
  return body;
}

// The chart's interval: the chosen one, or hours for windows up to three days and days
// beyond. A window too long for hours falls back to days ({coarser: true}), never an error.
export function chartInterval(view, schema, now) {
  const window = knownWindow(view, now);
  const span = window ? window[1] - window[0] : null;
  const fits = (interval) => span === null || span / (interval === "hour" ? HOUR_MS : DAY_MS)
    <= schema.maxBuckets - 2;
  let wanted = view.interval;
  if (wanted === "auto") {
    if (view.period === "today" || view.period === "yesterday") wanted = "hour";
    else wanted = span !== null && span <= 3 * DAY_MS ? "hour" : "day";
  }
  if (!schema.intervals.includes(wanted)) wanted = schema.intervals.at(-1);
  if (!fits(wanted)) {
    const coarser = schema.intervals.slice(schema.intervals.indexOf(wanted) + 1).find(fits);
    if (coarser) return { interval: coarser, coarser: view.interval !== "auto" };
  }
  return { interval: wanted, coarser: false };
}

export function pageCount(hits, rows) {
  return Math.max(1, Math.ceil(hits / rows));
}

// A change of filters: back to page 1 with no call open.
export function withFilters(view, patch) {
  return { ...view, ...patch, page: 1, call: null };
}

// The active filters as chips: [{id, field, value?}]; the page gives them words.
export function chips(view, schema) {
  const found = [];
  if (view.caller.trim()) found.push({ id: "caller", field: "caller", value: view.caller.trim() });
  if (view.outcome) found.push({ id: "outcome", field: "outcome", value: view.outcome });
  for (const name of schema.listFilters) {
    for (const value of view.lists[name]) found.push({ id: `${name}=${value}`, field: name, value });
  }
  for (const name of schema.countFilters) {
    const { min, max } = view.counts[name];
    if (min !== "" || max !== "") found.push({ id: name, field: name, min, max });
  }
  for (const name of schema.durationFilters) {
    const { min, max, unit } = view.durations[name];
    if (min !== "" || max !== "") found.push({ id: name, field: name, min, max, unit });
  }
  return found;
}

// The view without one chip's filter.
export function removeChip(view, chip, schema) {
  const next = structuredClone(view);
  if (chip.field === "caller") next.caller = "";
  else if (chip.field === "outcome") next.outcome = "";
  else if (schema.listFilters.includes(chip.field)) {
    next.lists[chip.field] = next.lists[chip.field].filter((value) => value !== chip.value);
  } else if (schema.countFilters.includes(chip.field)) next.counts[chip.field] = { min: "", max: "" };
  else if (schema.durationFilters.includes(chip.field)) {
    next.durations[chip.field] = { ...next.durations[chip.field], min: "", max: "" };
  }
  next.page = 1;
  next.call = null;
  return next;
}

// Sorting by a column: newest/largest first, then the reverse on a second press.
export function sortedBy(view, column) {
  const current = view.sort || "callDate";
  const order = view.order || "desc";
  return {
    ...view, sort: column, order: column === current && order === "desc" ? "asc" : "desc", page: 1,
  };
}

// The file name of a CSV download: tenant, window and date, as the export endpoint names it.
export function csvFilename(tenant, view, today) {
  const window = view.period === RANGE ? `${view.from}-${view.to}` : view.period;
  return `${tenant}_${window}_${today}.csv`.replace(/[^A-Za-z0-9_.-]/g, "-");
}
