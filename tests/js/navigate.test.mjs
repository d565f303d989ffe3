import assert from "node:assert/strict";
import { test } from "node:test";

import { navigate } from "../../src/recent_calls/static/navigate.js";
import { defaults, fromQuery, toQuery } from "../../src/recent_calls/static/state.js";
import { schema } from "./schema.mjs";

const ZONE = "America/New_York";

function state(patch = {}, hits = 100) {
  return { schema, zone: ZONE, view: { ...defaults(schema, ZONE), ...patch }, hits };
}

test("opening an address loads everything it names and writes no history", () => {
  const next = navigate(state(), { type: "open", search: "?period=week&by=agent" });
  assert.equal(next.view.period, "week");
  assert.equal(next.view.by, "agent");
  assert.deepEqual(next.reload, { data: true, stats: true });
  assert.equal(next.history, null);
  assert.equal(next.url, null);
});

test("a filter change goes back to page 1, closes the call, pushes its URL and reloads all", () => {
  const next = navigate(state({ page: 3, call: "c-1" }), { type: "filters", patch: { caller: "ann" } });
  assert.equal(next.view.page, 1);
  assert.equal(next.view.call, null);
  assert.equal(next.view.caller, "ann");
  assert.equal(next.history, "push");
  assert.equal(next.url, "?caller=ann");
  assert.deepEqual(next.reload, { data: true, stats: true });
});

test("a range with one end chosen shows the controls but asks nothing", () => {
  const before = state();
  const next = navigate(before, { type: "filters", patch: { period: "range", from: 1, to: null } });
  assert.equal(next.view, before.view);
  assert.equal(next.reload, null);
  assert.equal(next.history, null);
  assert.equal(next.pending.period, "range");
});

test("sorting and paging reload the page of calls only", () => {
  const sorted = navigate(state(), { type: "sort", column: "waitTime" });
  assert.deepEqual(sorted.reload, { data: true, stats: false });
  assert.equal(sorted.url, "?sort=waitTime&order=desc");
  const paged = navigate(state({}, 60), { type: "page", page: 9 });
  assert.equal(paged.view.page, 3, "clamped to the last page of 60 calls by 25");
  assert.deepEqual(paged.reload, { data: true, stats: false });
  assert.equal(navigate(state({}, 60), { type: "lastPage" }).view.page, 3);
  assert.equal(navigate(state({}, 0), { type: "page", page: 0 }).view.page, 1);
  const rows = navigate(state({ page: 2 }), { type: "rows", rows: 100 });
  assert.equal(rows.view.page, 1);
  assert.equal(rows.url, "?rows=100");
});

test("a call opens and closes in the URL without asking the server", () => {
  const opened = navigate(state(), { type: "openCall", callId: "c-9" });
  assert.equal(opened.url, "?call=c-9");
  assert.equal(opened.history, "push");
  assert.equal(opened.reload, null);
  assert.equal(opened.details, "open");
  const closed = navigate({ ...state(), view: opened.view }, { type: "closeCall" });
  assert.equal(closed.url, "");
  assert.equal(closed.history, "push");
  assert.equal(closed.reload, null);
});

test("back and forward over only the open call moves the panel, not the data", () => {
  const current = state({ call: "c-9" });
  const back = navigate(current, { type: "popstate", search: "" });
  assert.equal(back.reload, null);
  assert.equal(back.details, "close");
  assert.equal(back.history, null, "a history step never writes history");
  const forward = navigate(state(), { type: "popstate", search: "?call=c-9" });
  assert.equal(forward.details, "open");
  const elsewhere = navigate(current, { type: "popstate", search: "?period=week" });
  assert.deepEqual(elsewhere.reload, { data: true, stats: true });
  assert.equal(elsewhere.view.period, "week");
});

test("a breakdown row filters by the list filter the server names for it", () => {
  for (const [by, field] of Object.entries(schema.breakdownFilters)) {
    const next = navigate(state({ by, page: 2 }), { type: "pickBreakdownRow", by, key: "k1" });
    assert.deepEqual(next.view.lists[field], ["k1"]);
    assert.equal(next.view.page, 1);
    assert.deepEqual(next.reload, { data: true, stats: true });
  }
  assert.deepEqual(Object.keys(schema.breakdownFilters), schema.breakdowns);
  for (const field of Object.values(schema.breakdownFilters)) assert.ok(schema.listFilters.includes(field));
});

test("breakdown choices reload the figures only", () => {
  const by = navigate(state(), { type: "breakdownBy", by: "agent" });
  assert.deepEqual(by.reload, { data: false, stats: true });
  assert.equal(by.url, "?by=agent");
  const level = navigate(state(), { type: "serviceLevel", seconds: 30 });
  assert.deepEqual(level.reload, { data: false, stats: true });
  assert.equal(level.url, "?sl=30");
});

test("a chart drag zooms to a range, and the empty state widens or clears", () => {
  const zoomed = navigate(state({ page: 4 }), { type: "zoom", from: 10, to: 20 });
  assert.equal(zoomed.url, "?period=range&from=10&to=20");
  assert.equal(zoomed.view.page, 1);
  const narrow = state({ period: "yesterday", caller: "zed", rows: 50 });
  narrow.view.lists.tenantQueues = ["q1"];
  const cleared = navigate(narrow, { type: "clearFilters" });
  assert.equal(cleared.view.period, "yesterday");
  assert.equal(cleared.view.caller, "");
  assert.deepEqual(cleared.view.lists.tenantQueues, []);
  assert.equal(cleared.view.rows, 50);
  const widened = navigate(narrow, { type: "widen" });
  assert.equal(widened.view.period, "last7");
  assert.equal(widened.view.caller, "zed");
  assert.equal(navigate({ ...narrow, view: widened.view }, { type: "widen" }).view.period, "allhistory");
  const reset = navigate(narrow, { type: "reset" });
  assert.equal(reset.url, "?rows=50");
});

test("the quiet fallback to the last 7 days replaces the address instead of adding a step", () => {
  const next = navigate(state(), { type: "fallback" });
  assert.equal(next.view.period, "last7");
  assert.equal(next.history, "replace");
  assert.equal(next.url, "?period=last7");
});

test("an action that leaves the URL as it is writes no history but still reloads", () => {
  const next = navigate(state({}, 10), { type: "page", page: 1 });
  assert.equal(next.url, null);
  assert.equal(next.history, null);
  assert.deepEqual(next.reload, { data: true, stats: false });
});

test("every URL navigate writes reads back as the view it holds", () => {
  const actions = [
    { type: "sort", column: "waitTime" }, { type: "zoom", from: 5, to: 9 },
    { type: "breakdownBy", by: "channel" }, { type: "openCall", callId: "x y" },
  ];
  for (const action of actions) {
    const next = navigate(state(), action);
    assert.deepEqual(fromQuery(next.url, schema, ZONE), next.view);
    assert.equal(toQuery(next.view, schema, ZONE), next.url);
  }
  assert.throws(() => navigate(state(), { type: "nonsense" }), /unknown action/);
});
