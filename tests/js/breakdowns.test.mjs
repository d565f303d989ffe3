import assert from "node:assert/strict";
import { test } from "node:test";

import { serviceLevelWords, sortRows } from "../../src/recent_calls/static/breakdowns.js";

const rows = [
  { key: "", calls: 241, serviceLevel: 0 },
  { key: "a", calls: 90, serviceLevel: 0.5 },
  { key: "b", calls: 120, serviceLevel: null },
];

test("calls without a value come after every named row, whatever the sort", () => {
  assert.deepEqual(sortRows(rows, "calls", "desc").map((row) => row.key), ["b", "a", ""]);
  assert.deepEqual(sortRows(rows, "calls", "asc").map((row) => row.key), ["a", "b", ""]);
  assert.deepEqual(sortRows(rows, "serviceLevel", "desc").map((row) => row.key), ["a", "b", ""]);
  const named = (key) => ({ a: "Zed", b: "Amy" })[key] ?? "(none)";
  assert.deepEqual(sortRows(rows, "key", "asc", named).map((row) => row.key), ["b", "a", ""]);
});

test("service level is defined in words with its threshold", () => {
  assert.match(serviceLevelWords(20), /answered within 20 seconds/);
});
