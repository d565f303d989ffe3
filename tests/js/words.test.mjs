import assert from "node:assert/strict";
import { test } from "node:test";

import { defaults } from "../../src/recent_calls/static/state.js";
import { detailGroups, emptyWords, widerPeriod } from "../../src/recent_calls/static/words.js";
import { schema } from "./schema.mjs";

const view = (patch) => ({ ...defaults(schema, "GMT"), ...patch });

test("an empty number search says what was searched and how to widen it", () => {
  const words = emptyWords(view({ caller: " (212) 555-1212 " }));
  assert.equal(words.title, "No calls from “(212) 555-1212” today.");
  assert.match(words.hint, /digits/);
  assert.equal(words.widen, "Search last 7 days");
});

test("an empty name search and an empty filter set speak of what they are", () => {
  assert.match(emptyWords(view({ caller: "Zed", period: "month" })).hint, /letters/);
  assert.equal(emptyWords(view({ caller: "Zed", period: "month" })).title, "No calls from “Zed” this month.");
  assert.equal(emptyWords(view({ period: "range" })).title, "No calls match these filters in the chosen range.");
  assert.equal(emptyWords(view({ period: "last7" })).widen, "Search all history");
});

test("a day widens to the last 7 days, anything longer to all history", () => {
  assert.equal(widerPeriod("today"), "last7");
  assert.equal(widerPeriod("yesterday"), "last7");
  for (const period of ["last7", "week", "month", "range"]) assert.equal(widerPeriod(period), "allhistory");
});

test("the details panel shows every field once, grouped by meaning", () => {
  const groups = detailGroups(schema.dataKeys);
  assert.deepEqual(groups.map(([title]) => title), ["When", "Who called", "Where it went", "Outcome", "Timings", "More"]);
  const shown = groups.flatMap(([, keys]) => keys);
  assert.equal(new Set(shown).size, shown.length, "no field twice");
  for (const key of schema.dataKeys) {
    assert.equal(shown.includes(key), !["callDateOnly", "callTime", "callId"].includes(key), key);
  }
  assert.ok(shown.includes("outcome"));
});
