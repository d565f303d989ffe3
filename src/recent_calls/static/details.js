// The details panel of one call: every field in words, JSON-in-string fields laid out, the
// call id with a copy button. A dialog: focus moves in, Escape closes, focus goes back.

import { $, el } from "./dom.js";
import {
  durationWords, formatCallDate, formatCount, formatDuration, formatPhone, jsonEntries, outcomeOf,
} from "./format.js";
import { nameOf } from "./names.js";
import {
  COUNT_KEYS, DURATION_KEYS, FIELD_LABELS, NAMED_KEYS, OUTCOME_WORDS, PHONE_KEYS, detailGroups,
} from "./words.js";

export class Details {
  constructor(schema, { onClose }) {
    this.schema = schema;
    this.onClose = onClose;
    this.names = {};
    this.country = "US";
    this.returnTo = null;
    this.call = null;
    $("details-close").addEventListener("click", () => this.close());
    $("details").addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        this.close();
      }
    });
    $("copy-id").addEventListener("click", () => this.copy());
  }

  value(key, raw, call) {
    if (key === "outcome") return OUTCOME_WORDS[outcomeOf(call)];
    if (DURATION_KEYS.has(key)) {
      const words = durationWords(raw);
      return words ? `${words} (${formatDuration(raw)})` : "";
    }
    if (key === "callDate") return formatCallDate(raw);
    if (COUNT_KEYS.has(key)) return formatCount(Math.round(Number(raw)));
    if (PHONE_KEYS.has(key) && !NAMED_KEYS[key]) return formatPhone(raw, this.country) || "None";
    const entries = jsonEntries(raw);
    if (entries) {
      if (!entries.length || (entries.length === 1 && entries[0][1] === "")) return "None";
      return el("dl", { class: "nested" },
        entries.map(([name, text]) => el("div", {}, el("dt", {}, name), el("dd", {}, text))));
    }
    if (NAMED_KEYS[key]) {
      const ids = String(raw ?? "").split(",").filter(Boolean);
      if (!ids.length) return "None";
      return el("ul", { class: "ids" }, ids.map((id) => {
        const name = nameOf(this.names, NAMED_KEYS[key], id);
        const shown = PHONE_KEYS.has(key) ? formatPhone(id, this.country) : id;
        return el("li", {}, name === id ? shown : `${name} (${shown})`);
      }));
    }
    const text = raw === null || raw === undefined ? "" : String(raw);
    return text === "" ? "None" : text;
  }

  open(call, returnTo = null) {
    this.call = call;
    this.returnTo = returnTo;
    $("details-title").textContent = `Call from ${call.callerName || formatPhone(call.callerNumber, this.country) || "an unknown caller"}`;
    $("details-id").textContent = call.callId;
    $("copy-status").textContent = "";
    const groups = detailGroups(this.schema.dataKeys).map(([title, keys], index) => {
      const id = `details-group-${index}`;
      const rows = keys.map((key) =>
        el("div", { dataset: { key } }, el("dt", {}, FIELD_LABELS[key] ?? key),
          el("dd", {}, this.value(key, call[key], call))));
      return el("section", { class: "group", "aria-labelledby": id },
        el("h3", { id }, title), el("dl", { class: "fields" }, rows));
    });
    $("details-fields").replaceChildren(...groups);
    $("details").hidden = false;
    document.body.classList.add("details-open");
    $("details-title").focus();
  }

  get isOpen() {
    return !$("details").hidden;
  }

  close({ quiet = false } = {}) {
    if (!this.isOpen) return;
    $("details").hidden = true;
    document.body.classList.remove("details-open");
    this.call = null;
    const target = this.returnTo && this.returnTo.isConnected ? this.returnTo : $("results");
    target.focus({ preventScroll: true });
    if (!quiet) this.onClose();
  }

  async copy() {
    const text = $("details-id").textContent;
    try {
      await navigator.clipboard.writeText(text);
      $("copy-status").textContent = "Copied.";
    } catch {
      const range = document.createRange();
      range.selectNodeContents($("details-id"));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      $("copy-status").textContent = "Selected: press Ctrl+C (or ⌘C) to copy.";
    }
  }
}
