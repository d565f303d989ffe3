// The console's controller as one pure function: from the page's state and a user action to
// the next view, the URL to show it at, and what to reload. No DOM, no fetch, no clock: app.js
// applies the answer (history, controls, loads) in one place.

import {
  LAST_7_DAYS, RANGE, defaults, fromQuery, pageCount, removeChip, sortedBy, toQuery, withFilters,
} from "./state.js";
import { widerPeriod } from "./words.js";

// What each kind of change reloads: the calls page, the figures (chart, totals, breakdown).
const ALL = { data: true, stats: true };
const PAGE_ONLY = { data: true, stats: false };
const STATS_ONLY = { data: false, stats: true };

const sameBesidesCall = (a, b) => JSON.stringify({ ...a, call: null }) === JSON.stringify({ ...b, call: null });

// The next view of one action on the page's state {schema, zone, view, hits}:
//   view     the view the page holds next
//   url      its query string when the address bar must change, else null
//   history  "push" (a step back/forward can undo), "replace", or null
//   reload   {data, stats} to load, or null when nothing is asked of the server
//   details  "open" or "close" when the details panel follows the view's call, else null
//   pending  controls to show without a load (a range chosen end by end), else absent
export function navigate(state, action) {
  const { schema, zone, view, hits = 0 } = state;
  const step = (next, { reload = ALL, history = "push", details = null } = {}) => {
    const url = toQuery(next, schema, zone);
    const changed = url !== toQuery(view, schema, zone);
    return { view: next, url: changed ? url : null, history: changed ? history : null, reload, details };
  };
  switch (action.type) {
    case "open": {
      // The page opened (or signed in) at an address: load what it names, history untouched.
      return { view: fromQuery(action.search, schema, zone), url: null, history: null, reload: ALL, details: null };
    }
    case "popstate": {
      const next = fromQuery(action.search, schema, zone);
      if (sameBesidesCall(next, view)) {
        return { view: next, url: null, history: null, reload: null, details: next.call ? "open" : "close" };
      }
      return { view: next, url: null, history: null, reload: ALL, details: null };
    }
    case "filters": {
      const merged = { ...view, ...action.patch };
      if (merged.period === RANGE && (merged.from === null || merged.to === null)) {
        // The range is chosen end by end: show what is chosen, ask nothing until both ends are.
        return { view, url: null, history: null, reload: null, details: null, pending: merged };
      }
      return step(withFilters(view, merged));
    }
    case "removeChip":
      return step(removeChip(view, action.chip, schema));
    case "sort":
      return step(sortedBy(view, action.column), { reload: PAGE_ONLY });
    case "page": {
      const target = Math.min(Math.max(1, action.page), pageCount(hits, view.rows));
      return step({ ...view, page: target, call: null }, { reload: PAGE_ONLY });
    }
    case "lastPage":
      return navigate(state, { type: "page", page: pageCount(hits, view.rows) });
    case "rows":
      return step({ ...view, rows: action.rows, page: 1, call: null }, { reload: PAGE_ONLY });
    case "openCall":
      return step({ ...view, call: action.callId }, { reload: null, details: "open" });
    case "closeCall":
      return step({ ...view, call: null }, { reload: null });
    case "zoom":
      return step(withFilters(view, { period: RANGE, from: action.from, to: action.to }));
    case "pickBreakdownRow": {
      const field = schema.breakdownFilters[action.by];
      return step(withFilters(view, { lists: { ...view.lists, [field]: [action.key] } }));
    }
    case "breakdownBy":
      return step({ ...view, by: action.by }, { reload: STATS_ONLY });
    case "serviceLevel":
      return step({ ...view, serviceLevel: action.seconds }, { reload: STATS_ONLY });
    case "reset":
      return step({ ...defaults(schema, zone), rows: view.rows });
    case "clearFilters":
      // The empty state's way out: no filters, the same window, zone and rows.
      return step({
        ...defaults(schema, zone), period: view.period, from: view.from, to: view.to,
        zone: view.zone, rows: view.rows,
      });
    case "widen":
      return step(withFilters(view, { period: widerPeriod(view.period), from: null, to: null }));
    case "bell": {
      // The bell's calls: those that waited at least its threshold since it was last looked at.
      const timeInQueue = { min: String(action.seconds), max: "", unit: "sec" };
      const durations = { ...view.durations, timeInQueue };
      return step(withFilters(view, { period: RANGE, from: action.since, to: action.now, durations }));
    }
    case "fallback":
      // Nothing yet today on a first, unasked-for open: the last 7 days, in place of today.
      return step({ ...view, period: LAST_7_DAYS }, { history: "replace" });
    default:
      throw new Error(`unknown action ${action.type}`);
  }
}
