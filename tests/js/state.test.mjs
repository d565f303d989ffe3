import assert from "node:assert/strict";
import { test } from "node:test";

import {
  chartInterval, chips, csvFilename, defaults, fromQuery, includesNow, pageCount, problems,
  removeChip, requestBody, showsOneDay, sortedBy, toQuery, withFilters,
} from "../../src/recent_calls/static/state.js";
import { schema } from "./schema.mjs";

const NOW = schema.now;
const DAY = 86_400_000;

test("a fresh view is today's calls with no filters, and its URL is empty", () => {
  const view = defaults(schema, "America/New_York");
  assert.equal(view.period, "today");
  assert.equal(toQuery(view, schema, "America/New_York"), "");
  const body = requestBody(view, schema, { tenant: "t1", now: NOW });
  assert.deepEqual(body, { tenantId: "t1", page: 1, rows: 25, timezone: "America/New_York", duration: "today" });
});

test("every filter survives a trip through the URL", () => {
  const view = defaults(schema, "GMT");
  view.period = "range";
  view.from = 1710046800000;
  view.to = 1710129599999;
  view.zone = "America/New_York";
  view.caller = "smith & co";
  view.outcome = "abandoned";
  view.lists.tenantQueues = ["2583", "a b"];
  view.lists.tenantAgents = ["ag1"];
  view.counts.transferCount = { min: "1", max: "" };
  view.durations.timeInQueue = { min: "", max: "5", unit: "min" };
  Object.assign(view, { sort: "waitTime", order: "asc", page: 3, rows: 100, interval: "hour", by: "agent", serviceLevel: 30, call: "c-1" });
  const query = toQuery(view, schema, "GMT");
  assert.ok(!query.includes("token") && !query.includes("apikey"));
  assert.deepEqual(fromQuery(query, schema, "GMT"), view);
});

test("the request body speaks the wire format, empty bounds unbounded", () => {
  const view = defaults(schema, "GMT");
  view.counts.agentHoldCount = { min: "2", max: "" };
  view.durations.callDuration = { min: "", max: "10", unit: "min" };
  view.lists.tenantChannels = ["+18005550100"];
  view.caller = "  Ann ";
  const body = requestBody(view, schema, { tenant: "t", now: NOW, page: 2, rows: 5000 });
  assert.equal(body.agentHoldCount, "range:2,-1");
  assert.equal(body.callDuration, "min:-1,10");
  assert.deepEqual(body.tenantChannels, ["+18005550100"]);
  assert.deepEqual(body.callerName, ["Ann"]);
  assert.equal(body.page, 2);
  assert.equal(body.rows, 5000);
  assert.equal(body.agentMuteCount, undefined);
});

test("the last 7 days is a time range ending at the server's now", () => {
  const view = { ...defaults(schema), period: "last7" };
  assert.equal(requestBody(view, schema, { tenant: "t", now: NOW }).timeRange, `${NOW - 7 * DAY}-${NOW}`);
  assert.equal(includesNow(view, NOW), true);
  assert.equal(includesNow({ ...view, period: "yesterday" }, NOW), false);
  assert.equal(includesNow({ ...view, period: "range", from: NOW - 3 * DAY, to: NOW - 2 * DAY }, NOW), false);
});

test("malformed URLs keep the defaults instead of failing", () => {
  const view = fromQuery("?period=decade&page=-3&rows=7&sort=nope&order=up&interval=minute&sl=x", schema, "GMT");
  const base = defaults(schema, "GMT");
  assert.deepEqual(view, base);
  assert.equal(fromQuery("?period=range&from=abc", schema).period, "today");
});

test("problems are found before asking, each on its field", () => {
  const view = defaults(schema, "Mars/Olympus");
  view.counts.transferCount = { min: "5", max: "2" };
  view.durations.timeInIVR = { min: "1.5", max: "", unit: "sec" };
  assert.deepEqual(problems(view, schema), [
    { field: "timezone", kind: "zone" },
    { field: "transferCount", end: "min", kind: "order" },
    { field: "timeInIVR", end: "min", kind: "whole" },
  ]);
  assert.deepEqual(problems(defaults(schema, "Europe/London"), schema), []);
});

test("long windows chart by a coarser interval instead of failing", () => {
  const base = defaults(schema, "GMT");
  assert.deepEqual(chartInterval(base, schema, NOW), { interval: "hour", coarser: false });
  const year = { ...base, period: "range", from: NOW - 365 * DAY, to: NOW, interval: "hour" };
  assert.deepEqual(chartInterval(year, schema, NOW), { interval: "day", coarser: true });
  const twoDays = { ...base, period: "range", from: NOW - 2 * DAY, to: NOW };
  assert.equal(chartInterval(twoDays, schema, NOW).interval, "hour");
  assert.equal(chartInterval({ ...base, period: "month" }, schema, NOW).interval, "day");
});

test("chips remove one filter each, back on page 1", () => {
  const view = { ...defaults(schema), page: 4, call: "x" };
  view.lists.tenantQueues = ["1", "2"];
  view.counts.transferCount = { min: "1", max: "" };
  const found = chips(view, schema);
  assert.deepEqual(found.map((chip) => chip.id), ["tenantQueues=1", "tenantQueues=2", "transferCount"]);
  const next = removeChip(view, found[0], schema);
  assert.deepEqual(next.lists.tenantQueues, ["2"]);
  assert.equal(next.page, 1);
  assert.equal(next.call, null);
  assert.deepEqual(view.lists.tenantQueues, ["1", "2"], "the original view is untouched");
});

test("sorting flips on a second press; filters reset the page", () => {
  const first = sortedBy(defaults(schema), "callDate");
  assert.equal(first.order, "asc");
  const other = sortedBy(first, "waitTime");
  assert.equal(other.order, "desc");
  assert.equal(withFilters({ ...other, page: 9, call: "c" }, { caller: "x" }).page, 1);
  assert.equal(pageCount(0, 25), 1);
  assert.equal(pageCount(51, 25), 3);
  assert.equal(csvFilename("acme", defaults(schema), "2024-03-13"), "acme_today_2024-03-13.csv");
});

test("rolling periods end at the server's now and show times only", () => {
  for (const [period, span] of [["last15m", 15 * 60_000], ["last1h", 3_600_000], ["last4h", 4 * 3_600_000]]) {
    const view = { ...defaults(schema), period };
    assert.equal(requestBody(view, schema, { tenant: "t", now: NOW }).timeRange, `${NOW - span}-${NOW}`);
    assert.equal(includesNow(view, NOW), true);
    assert.equal(showsOneDay(view), true);
    assert.equal(chartInterval(view, schema, NOW).interval, "hour");
    assert.equal(fromQuery(toQuery(view, schema), schema).period, period);
  }
  assert.equal(showsOneDay({ ...defaults(schema), period: "week" }), false);
});

test("the outcome filter goes to the API as a list, shows as a chip and removes as one", () => {
  const view = { ...defaults(schema), outcome: "other" };
  assert.deepEqual(requestBody(view, schema, { tenant: "t", now: NOW }).outcome, ["other"]);
  const [chip] = chips(view, schema);
  assert.deepEqual(chip, { id: "outcome", field: "outcome", value: "other" });
  assert.equal(removeChip(view, chip, schema).outcome, "");
  assert.equal(fromQuery("?outcome=lost", schema).outcome, "", "an unknown outcome is ignored");
  assert.deepEqual(schema.outcomes, ["answered", "abandoned", "other"]);
});
