// The filter controls: the compact bar, "More filters", the pickers that search by name or id,
// the active-filter chips, and errors tied to their fields. The controls are built from the
// server's schema; reading them gives a patch of the view (state.js owns the view itself).

import { $, el } from "./dom.js";
import { fieldMessage, formatCount } from "./format.js";
import { byName, matches, nameOf } from "./names.js";
import { chips, periods, RANGE, rowsChoices } from "./state.js";
import { FILTER_LABELS, LIST_DIRECTORY, OUTCOME_WORDS, PERIOD_WORDS, UNIT_WORDS, label } from "./words.js";

// datetime-local text of an instant in `zone`, and back, by the zone's own offset.
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

export function wallToEpoch(value, zone) {
  const [day, time = "00:00"] = value.split("T");
  const [year, month, date] = day.split("-").map(Number);
  const [hours, minutes, seconds = 0] = time.split(":").map(Number);
  const wall = Date.UTC(year, month - 1, date, hours, minutes, seconds);
  const guess = wall - zoneOffsetMs(zone, wall);
  return wall - zoneOffsetMs(zone, guess);
}

export function epochToWall(epochMs, zone) {
  const local = new Date(epochMs + zoneOffsetMs(zone, epochMs));
  return local.toISOString().slice(0, 19);
}

export class Filters {
  // onChange(patch): the controls changed; onRemoveChip(chip): a chip's remove button.
  constructor(schema, { onChange, onRemoveChip }) {
    this.schema = schema;
    this.onChange = onChange;
    this.onRemoveChip = onRemoveChip;
    this.names = {};
    this.facets = {};
    this.timer = null;
    this.build();
  }

  build() {
    const schema = this.schema;
    $("period").replaceChildren(...periods(schema).map((p) => new Option(PERIOD_WORDS[p] ?? p, p)));
    $("interval").replaceChildren(new Option("Automatic", "auto"),
      ...schema.intervals.map((i) => new Option(i === "hour" ? "Hour" : i === "day" ? "Day" : i, i)));
    $("outcome").replaceChildren(new Option("Any", ""),
      ...schema.outcomes.map((o) => new Option(OUTCOME_WORDS[o] ?? o, o)));
    $("rows").replaceChildren(...rowsChoices(schema).map((r) => new Option(String(r), String(r))));
    const zones = ["GMT", "UTC", ...(Intl.supportedValuesOf?.("timeZone") ?? [])];
    $("timezones").replaceChildren(...zones.map((zone) => new Option(zone)));
    this.rangeInputs($("count-ranges"), schema.countFilters, false);
    this.rangeInputs($("duration-ranges"), schema.durationFilters, true);
    $("pickers").replaceChildren(...schema.listFilters.map((name) => this.picker(name)));

    const now = () => this.onChange(this.read());
    const soon = () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(now, 350);
    };
    for (const id of ["period", "outcome", "interval", "range-from", "range-to"]) $(id).addEventListener("change", now);
    // A date left part typed changes nothing the page can see: say so when the field is left.
    for (const id of ["range-from", "range-to"]) {
      $(id).addEventListener("blur", () => {
        const found = this.rangeProblems();
        if (found.length) this.showProblems(found, { focus: false });
      });
    }
    $("timezone").addEventListener("change", now);
    $("caller").addEventListener("input", soon);
    $("bar").addEventListener("submit", (event) => { event.preventDefault(); now(); });
    $("more-filters").addEventListener("input", (event) => {
      if (event.target.matches(".ranges input")) soon();
    });
    $("more-filters").addEventListener("change", (event) => {
      if (event.target.matches(".ranges select, .options input")) now();
    });
    $("more").addEventListener("click", () => this.toggleMore());
  }

  toggleMore(open = $("more-filters").hidden) {
    $("more-filters").hidden = !open;
    $("more").setAttribute("aria-expanded", String(open));
  }

  rangeInputs(container, names, withUnit) {
    for (const name of names) {
      const title = el("span", { id: `${name}-label`, class: "range-label" }, FILTER_LABELS[name] ?? name);
      const group = el("div", { class: "range", role: "group", "aria-labelledby": `${name}-label`, dataset: { field: name } }, title);
      for (const [end, text] of [["min", "at least"], ["max", "at most"]]) {
        const input = el("input", { type: "text", id: `${name}-${end}`, inputmode: "numeric",
          autocomplete: "off", "aria-describedby": `${name}-error`, dataset: { field: name } });
        group.append(el("label", { for: input.id }, text), input);
      }
      if (withUnit) {
        const unit = el("select", { id: `${name}-unit` },
          this.schema.durationUnits.map((u) => new Option(UNIT_WORDS[u] ?? u, u)));
        group.append(el("label", { for: unit.id }, "in"), unit);
      }
      group.append(el("p", { id: `${name}-error`, class: "field-error" }));
      container.append(group);
    }
  }

  picker(name) {
    const search = el("input", { type: "search", id: `${name}-search`, autocomplete: "off",
      placeholder: "name or id" });
    const list = el("div", { class: "options", id: `${name}-options`, role: "group",
      "aria-labelledby": `${name}-legend` });
    search.addEventListener("input", () => this.filterOptions(name));
    return el("fieldset", { class: "picker", dataset: { field: name } },
      el("legend", { id: `${name}-legend` }, `${FILTER_LABELS[name] ?? name}s`.replace("ys", "ies")),
      el("label", { for: search.id }, `Find by name or id`), search, list);
  }

  // Offer `values` (ids from the facets) under their names.
  offer(facets, names) {
    this.facets = facets;
    this.names = names;
    for (const name of this.schema.listFilters) {
      const kind = LIST_DIRECTORY[name];
      const ids = byName(names, kind, facets[kind] ?? []);
      const boxes = ids.map((id, index) => {
        const box = el("input", { type: "checkbox", id: `${name}-opt-${index}`, value: id });
        const shown = nameOf(names, kind, id);
        return el("div", { class: "check", dataset: { id, name: shown } }, box,
          el("label", { for: box.id, title: id }, shown,
            shown === id ? null : el("span", { class: "id" }, ` ${id}`)));
      });
      $(`${name}-options`).replaceChildren(...boxes);
    }
  }

  filterOptions(name) {
    const search = $(`${name}-search`).value;
    for (const row of $(`${name}-options`).children) {
      row.hidden = !matches(search, row.dataset.id, row.dataset.name);
    }
  }

  // The view's filters as the controls hold them.
  read() {
    const zone = $("timezone").value.trim();
    const patch = { period: $("period").value, zone, caller: $("caller").value, outcome: $("outcome").value,
      interval: $("interval").value, lists: {}, counts: {}, durations: {}, from: null, to: null };
    if (patch.period === RANGE) {
      const from = $("range-from").value;
      const to = $("range-to").value;
      try {
        if (from) patch.from = wallToEpoch(from, zone);
        // "To" is inclusive to the end of its second.
        if (to) patch.to = wallToEpoch(to, zone) + 999;
      } catch {
        // An unknown zone is reported on the time zone field.
      }
    }
    for (const name of this.schema.listFilters) {
      patch.lists[name] = Array.from($(`${name}-options`).querySelectorAll("input:checked"), (b) => b.value);
    }
    for (const name of this.schema.countFilters) {
      patch.counts[name] = { min: $(`${name}-min`).value.trim(), max: $(`${name}-max`).value.trim() };
    }
    for (const name of this.schema.durationFilters) {
      patch.durations[name] = { min: $(`${name}-min`).value.trim(), max: $(`${name}-max`).value.trim(),
        unit: $(`${name}-unit`).value };
    }
    return patch;
  }

  // Put a view into the controls.
  write(view) {
    $("period").value = view.period;
    $("timezone").value = view.zone;
    $("outcome").value = view.outcome;
    if (document.activeElement !== $("caller")) $("caller").value = view.caller;
    $("interval").value = view.interval;
    $("rows").value = String(view.rows);
    const custom = view.period === RANGE;
    for (const element of document.querySelectorAll(".range-only")) element.hidden = !custom;
    if (custom && view.from !== null && view.to !== null) {
      try {
        $("range-from").value = epochToWall(view.from, view.zone);
        $("range-to").value = epochToWall(view.to - (view.to % 1000 === 999 ? 999 : 0), view.zone);
      } catch {
        // An unknown zone: the inputs keep what they hold.
      }
    }
    for (const name of this.schema.listFilters) {
      const chosen = new Set(view.lists[name]);
      for (const box of $(`${name}-options`).querySelectorAll("input")) box.checked = chosen.has(box.value);
    }
    for (const name of this.schema.countFilters) {
      $(`${name}-min`).value = view.counts[name].min;
      $(`${name}-max`).value = view.counts[name].max;
    }
    for (const name of this.schema.durationFilters) {
      $(`${name}-min`).value = view.durations[name].min;
      $(`${name}-max`).value = view.durations[name].max;
      $(`${name}-unit`).value = view.durations[name].unit;
    }
    this.chips(view);
  }

  chipText(chip) {
    const what = FILTER_LABELS[chip.field] ?? chip.field;
    if (chip.value !== undefined) {
      const kind = LIST_DIRECTORY[chip.field];
      if (chip.field === "outcome") return `${what}: ${OUTCOME_WORDS[chip.value] ?? chip.value}`;
      return `${what}: ${kind ? nameOf(this.names, kind, chip.value) : chip.value}`;
    }
    const unit = chip.unit ? ` ${UNIT_WORDS[chip.unit] ?? chip.unit}` : "";
    if (chip.min !== "" && chip.max !== "") return `${what}: ${formatCount(chip.min)} to ${formatCount(chip.max)}${unit}`;
    if (chip.min !== "") return `${what}: at least ${formatCount(chip.min)}${unit}`;
    return `${what}: at most ${formatCount(chip.max)}${unit}`;
  }

  chips(view) {
    const items = chips(view, this.schema).map((chip) => {
      const text = this.chipText(chip);
      const button = el("button", { type: "button", class: "chip", "aria-label": `Remove filter ${text}` },
        text, el("span", { "aria-hidden": "true" }, " ✕"));
      button.addEventListener("click", () => this.onRemoveChip(chip));
      return el("li", {}, button);
    });
    $("chips").replaceChildren(...items);
    $("chips").hidden = !items.length;
  }

  // The range's date fields that hold something other than a whole date and time.
  rangeProblems() {
    if ($("range-from").closest(".range-only").hidden) return [];
    const found = [];
    for (const [id, end] of [["range-from", "min"], ["range-to", "max"]]) {
      const { validity } = $(id);
      if (validity.badInput) found.push({ field: "timeRange", end, kind: "incomplete" });
      else if (validity.rangeOverflow || validity.rangeUnderflow) {
        found.push({ field: "timeRange", end, kind: "year" });
      }
    }
    return found;
  }

  // Errors in the field's own words, on the field: aria-invalid, and focus on the first
  // (unless the user is still choosing, as between the two ends of a range).
  showProblems(found, { focus = true } = {}) {
    this.clearProblems();
    const messages = [];
    let first = null;
    for (const problem of found) {
      const ends = problem.field === "timeRange" ? { min: "from", max: "to" } : { min: "at least", max: "at most" };
      const words = fieldMessage(label(problem.field),
        problem.kind).replace(/^([^:]+):/, (all, name) => (problem.end ? `${name} (${ends[problem.end]}):` : all));
      const text = problem.message ? `${label(problem.field)}: ${problem.message}` : words;
      messages.push(text);
      const target = this.control(problem);
      if (target) {
        target.setAttribute("aria-invalid", "true");
        const slot = $(`${problem.field}-error`);
        if (slot) slot.textContent = text;
        if (!first) first = target;
      }
    }
    $("filter-error").textContent = messages.join("\n");
    if (first && focus) {
      if ($("more-filters").contains(first)) this.toggleMore(true);
      first.focus();
    }
  }

  control(problem) {
    const { field, end } = problem;
    if (field === "timezone") return $("timezone");
    if (field === "timeRange" || field === "duration") {
      if ($("range-from").closest(".range-only").hidden) return $("period");
      return end === "max" ? $("range-to") : $("range-from");
    }
    if (field === "callerName") return $("caller");
    if (field === "interval") return $("interval");
    if (field === "rows") return $("rows");
    if ($(`${field}-min`)) return $(`${field}-${end || "min"}`);
    if ($(`${field}-search`)) return $(`${field}-search`);
    return null;
  }

  clearProblems() {
    $("filter-error").textContent = "";
    for (const element of document.querySelectorAll("[aria-invalid='true']")) element.removeAttribute("aria-invalid");
    for (const slot of document.querySelectorAll(".field-error")) slot.textContent = "";
  }
}
