// The breakdown table (by queue, agent, agent group or channel) from recentCallStats' groupBy:
// sortable headings, names for keys, a row click filters by its value. Hidden when the server
// gives no breakdown.

import { $, el } from "./dom.js";
import { formatCount, formatDuration, formatRate } from "./format.js";
import { nameOf } from "./names.js";

const KIND = { queue: "queues", agent: "agents", agentGroup: "groups", channel: "channels" };
const COLUMNS = [
  { key: "key", label: "Name" },
  { key: "calls", label: "Calls", show: formatCount },
  { key: "answered", label: "Answered", show: formatCount },
  { key: "abandoned", label: "Abandoned", show: formatCount },
  { key: "abandonRate", label: "Abandon rate", show: formatRate },
  { key: "avgWaitTime", label: "Average wait", show: (v) => (v === null ? "–" : formatDuration(v)) },
  { key: "avgHandleTime", label: "Average handle time", show: (v) => (v === null ? "–" : formatDuration(v)) },
  { key: "serviceLevel", label: "Service level", show: formatRate },
  { key: "transfers", label: "Transfers", show: formatCount },
];

// Rows sorted by one column; nulls last either way, and the calls without a value ("(none)")
// after every named row, since a supervisor reads the named ones. Pure, exported for the tests.
export function sortRows(rows, key, order, nameOfKey = (k) => k) {
  const value = (row) => (key === "key" ? nameOfKey(row.key).toLowerCase() : row[key]);
  return [...rows].sort((a, b) => {
    if ((a.key === "") !== (b.key === "")) return a.key === "" ? 1 : -1;
    const left = value(a);
    const right = value(b);
    if (left === right) return 0;
    if (left === null || left === undefined) return 1;
    if (right === null || right === undefined) return -1;
    const sign = order === "asc" ? 1 : -1;
    return left < right ? -sign : sign;
  });
}

// What service level means, said where it is shown.
export function serviceLevelWords(seconds) {
  return `Service level: the share of calls answered within ${formatCount(seconds)} seconds of waiting, out of all calls (abandoned ones included).`;
}

export class Breakdowns {
  // onPick(by, key): a row was chosen; onBy(by): another breakdown; onServiceLevel(seconds).
  constructor({ onPick, onBy, onServiceLevel }) {
    this.onPick = onPick;
    this.names = {};
    this.breakdown = null;
    this.sort = "calls";
    this.order = "desc";
    $("breakdown-head").replaceChildren(...COLUMNS.map((column) => {
      const button = el("button", { type: "button", class: "sort", dataset: { sort: column.key } }, column.label);
      button.addEventListener("click", () => {
        this.order = this.sort === column.key && this.order === "desc" ? "asc" : "desc";
        this.sort = column.key;
        this.render(this.breakdown);
      });
      return el("th", { scope: "col" }, button);
    }));
    // One press from the calls to the breakdown, without a #fragment in the view's URL.
    $("to-breakdown").addEventListener("click", (event) => {
      event.preventDefault();
      $("breakdowns").scrollIntoView({ block: "start" });
      $("breakdown-title").focus({ preventScroll: true });
    });
    $("breakdown-by").addEventListener("change", () => onBy($("breakdown-by").value));
    $("service-level").addEventListener("change", () => {
      const value = Number($("service-level").value);
      if (Number.isInteger(value) && value >= 0 && value <= 86400) {
        $("service-level").removeAttribute("aria-invalid");
        onServiceLevel(value);
      } else {
        $("service-level").setAttribute("aria-invalid", "true");
        $("filter-error").textContent = "Service level: enter whole seconds from 0 to 86,400.";
        $("service-level").focus();
      }
    });
  }

  // Put the view's breakdown choices into the controls.
  write(view) {
    $("breakdown-by").value = view.by;
    $("service-level").value = String(view.serviceLevel);
  }

  render(breakdown) {
    this.breakdown = breakdown ?? null;
    $("breakdowns").hidden = !breakdown;
    $("to-breakdown").hidden = !breakdown;
    if (!breakdown) return;
    $("sl-definition").textContent = serviceLevelWords(breakdown.serviceLevelSeconds);
    const kind = KIND[breakdown.by];
    const named = (key) => (key === "" ? "(none)" : nameOf(this.names, kind, key));
    const rows = sortRows(breakdown.rows, this.sort, this.order, named).map((row) => {
      const tr = el("tr", { tabindex: "0", dataset: { key: row.key } }, COLUMNS.map((column) => {
        const raw = row[column.key];
        const text = column.key === "key" ? named(raw) : column.show(raw);
        return el("td", { class: column.key === "key" ? null : "number",
          title: column.key === "key" && text !== raw ? raw : null }, text);
      }));
      if (row.key !== "") {
        tr.addEventListener("click", () => this.onPick(breakdown.by, row.key));
        tr.addEventListener("keydown", (event) => {
          if (event.key === "Enter") this.onPick(breakdown.by, row.key);
        });
      }
      return tr;
    });
    $("breakdown-body").replaceChildren(...rows);
    for (const button of document.querySelectorAll("#breakdown-head button.sort")) {
      const th = button.parentElement;
      if (button.dataset.sort === this.sort) {
        th.setAttribute("aria-sort", this.order === "asc" ? "ascending" : "descending");
        button.dataset.order = this.order;
      } else {
        th.removeAttribute("aria-sort");
        delete button.dataset.order;
      }
    }
  }
}
