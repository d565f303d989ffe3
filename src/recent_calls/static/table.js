// The calls table: sortable headings, a remembered column picker, names for ids, rows that
// open the details panel by click or Enter. On a phone the CSS lays each row out as a card.

import { $, el } from "./dom.js";
import { formatCallDate, formatCallTime, formatCount, formatDuration, formatPhone, outcomeOf } from "./format.js";
import { namesOf } from "./names.js";
import { showsOneDay } from "./state.js";
import {
  COUNT_KEYS, DURATION_KEYS, FIELD_LABELS, NAMED_KEYS, OUTCOME_WORDS, PHONE_KEYS, label,
} from "./words.js";

const COLUMNS_KEY = "recentCalls.columns";
// Shown until the user picks: the date and caller first (pinned), then what a supervisor
// reads first (queue, agent, wait, handle time, outcome), so they fit a 1440 px screen.
const DEFAULT_COLUMNS = [
  "callDate", "callerName", "callerNumber", "queueId", "agentId", "waitTime",
  "agentCallHandlingDuration", "outcome", "callDuration", "transferCount", "holdDuration",
  "agentGroup", "dialedNumber", "abandonTime", "callType", "hungupBy",
];
const PINNED = ["callDate", "callerName"];
// Columns the page derives from a call's fields: shown and picked like the API's own.
const DERIVED = ["outcome"];

export function cellText(call, key, names, { timeOnly = false, country = "US" } = {}) {
  const value = call[key];
  if (key === "outcome") return OUTCOME_WORDS[outcomeOf(call)];
  if (DURATION_KEYS.has(key)) return formatDuration(value);
  if (COUNT_KEYS.has(key)) return formatCount(Math.round(Number(value)));
  if (key === "callDate") return timeOnly ? formatCallTime(value) : formatCallDate(value);
  if (NAMED_KEYS[key]) return namesOf(names, NAMED_KEYS[key], value);
  if (PHONE_KEYS.has(key)) return formatPhone(value, country);
  return value === null || value === undefined ? "" : String(value);
}

export class CallsTable {
  constructor(schema, { onSort, onOpen }) {
    this.schema = schema;
    this.onSort = onSort;
    this.onOpen = onOpen;
    this.names = {};
    this.country = "US";
    this.calls = [];
    this.known = new Set();
    // Calls marked new, and those of them on screen when the user was last active: a mark
    // stays until it has been seen, then goes at the next refresh (not under the cursor).
    this.fresh = new Set();
    this.seen = new Set();
    for (const type of ["pointermove", "pointerdown", "keydown", "wheel", "touchstart"]) {
      document.addEventListener(type, () => this.markSeen(), { passive: true });
    }
    this.alertMs = null;
    this.timeOnly = false;
    this.columns = [...schema.dataKeys, ...DERIVED];
    this.keys = this.loadColumns();
    this.buildPicker();
    this.buildHead();
  }

  loadColumns() {
    try {
      const saved = JSON.parse(localStorage.getItem(COLUMNS_KEY) || "null");
      if (Array.isArray(saved)) {
        const keys = saved.filter((key) => this.columns.includes(key));
        if (keys.length) return this.ordered(keys);
      }
    } catch {
      // A damaged setting falls back to the defaults.
    }
    return this.ordered(DEFAULT_COLUMNS.filter((key) => this.columns.includes(key)));
  }

  // Pinned columns first, the rest in the default order, then in the API's order.
  ordered(keys) {
    const rank = (key) => {
      const preferred = DEFAULT_COLUMNS.indexOf(key);
      return preferred >= 0 ? preferred : 100 + this.columns.indexOf(key);
    };
    return [...new Set(keys)].sort((a, b) => rank(a) - rank(b));
  }

  buildPicker() {
    const list = $("column-list");
    const boxes = this.columns
      .slice()
      .sort((a, b) => label(a).localeCompare(label(b)))
      .map((key) => {
        const box = el("input", { type: "checkbox", id: `col-${key}`, value: key });
        box.checked = this.keys.includes(key);
        box.disabled = PINNED.includes(key);
        box.addEventListener("change", () => this.pick());
        return el("div", { class: "check" }, box, el("label", { for: box.id }, label(key)));
      });
    list.append(...boxes);
  }

  pick() {
    const keys = Array.from($("column-list").querySelectorAll("input:checked"), (box) => box.value);
    this.keys = this.ordered([...PINNED, ...keys]);
    localStorage.setItem(COLUMNS_KEY, JSON.stringify(this.keys));
    this.buildHead();
    this.render(this.calls, this.view);
  }

  buildHead() {
    const cells = this.keys.map((key) => {
      const th = el("th", { scope: "col", class: PINNED.includes(key) ? `pin pin-${key}` : null,
        dataset: { key } });
      if (!this.schema.sortColumns.includes(key)) {
        th.textContent = FIELD_LABELS[key] ?? key;
        return th;
      }
      const words = key === "callDate" && this.timeOnly ? "Time" : FIELD_LABELS[key] ?? key;
      const button = el("button", { type: "button", class: "sort", dataset: { sort: key } }, words);
      button.addEventListener("click", () => this.onSort(key));
      th.append(button);
      return th;
    });
    $("calls-head").replaceChildren(...cells);
  }

  markSort(view) {
    const active = view?.sort || "callDate";
    const order = view?.order || "desc";
    for (const button of document.querySelectorAll("#calls-head button.sort")) {
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

  markSeen() {
    if (document.visibilityState !== "visible") return;
    for (const id of this.fresh) this.seen.add(id);
  }

  row(call, fresh) {
    const longWait = this.alertMs !== null && Number(call.waitTime) >= this.alertMs;
    const tr = el("tr", {
      tabindex: "0",
      class: [fresh ? "new" : "", longWait ? "long-wait" : ""].join(" ").trim() || null,
      dataset: { callId: call.callId },
    });
    tr.append(...this.keys.map((key, index) => {
      const words = key === "callDate" && this.timeOnly ? "Time" : FIELD_LABELS[key] ?? key;
      const td = el("td", { dataset: { label: words, key } });
      if (PINNED.includes(key)) td.classList.add("pin", `pin-${key}`);
      if (DURATION_KEYS.has(key) || COUNT_KEYS.has(key)) td.classList.add("number");
      td.textContent = cellText(call, key, this.names, { timeOnly: this.timeOnly, country: this.country });
      if (DURATION_KEYS.has(key)) td.title = `${Number(call[key])} ms`;
      else if (NAMED_KEYS[key] && td.textContent !== String(call[key] ?? "")) td.title = call[key];
      // Marks take no width of their own, so nothing shifts when they come and go: "New"
      // sits in space the first column keeps for it, a long wait colours its Wait cell.
      if (index === 0 && fresh) td.append(el("span", { class: "badge" }, "New"));
      if (key === "waitTime" && longWait) {
        td.classList.add("over");
        td.append(el("span", { class: "visually-hidden" }, " (long wait)"));
      }
      return td;
    }));
    tr.addEventListener("click", () => this.onOpen(call, tr));
    tr.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        this.onOpen(call, tr);
      }
    });
    return tr;
  }

  // Show `calls`; with `markNew`, calls not shown before are marked as new, and marks seen
  // since the last refresh are dropped.
  // Phone numbers again, as now formatted (the library arrives after the first render).
  reformatPhones() {
    for (const td of document.querySelectorAll("#calls-body td[data-key]")) {
      const key = td.dataset.key;
      if (!PHONE_KEYS.has(key) || NAMED_KEYS[key]) continue;
      const call = this.calls.find((item) => item.callId === td.parentElement.dataset.callId);
      if (call) td.textContent = cellText(call, key, this.names, { country: this.country });
    }
  }

  render(calls, view, { markNew = false } = {}) {
    if (markNew) {
      for (const id of this.seen) this.fresh.delete(id);
      this.seen.clear();
      for (const call of calls) if (!this.known.has(call.callId)) this.fresh.add(call.callId);
    }
    this.calls = calls;
    this.view = view;
    // A window of one day: the date would repeat on every row, so rows show the time only.
    this.timeOnly = showsOneDay(view);
    if ($("calls").classList.toggle("time-only", this.timeOnly) !== this.shownTimeOnly) {
      this.shownTimeOnly = this.timeOnly;
      this.buildHead();
    }
    const rows = calls.map((call) => this.row(call, this.fresh.has(call.callId)));
    for (const call of calls) this.known.add(call.callId);
    $("calls-body").replaceChildren(...rows);
    this.markSort(view);
  }

  forget() {
    this.known = new Set();
  }

  rowOf(callId) {
    return Array.from($("calls-body").rows).find((tr) => tr.dataset.callId === callId) ?? null;
  }
}
