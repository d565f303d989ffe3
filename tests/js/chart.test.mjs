import assert from "node:assert/strict";
import { test } from "node:test";

import { chartData } from "../../src/recent_calls/static/chart.js";
import { formatBucket } from "../../src/recent_calls/static/format.js";

const HOUR = 3_600_000;
const T0 = 1_710_334_800_000; // Wed 2024-03-13 09:00 New York
const bucket = (i, calls, answered, abandoned, avgWaitTime) => ({
  start: T0 + i * HOUR, end: T0 + (i + 1) * HOUR, calls, answered, abandoned, avgWaitTime,
});

test("every call is in a stacked bar, and the wait line has gaps where no call was", () => {
  const stats = {
    buckets: [bucket(0, 0, 0, 0, null), bucket(1, 10, 6, 3, 30_000), bucket(2, 0, 0, 0, null),
      bucket(3, 4, 4, 0, 5_000)],
  };
  const [x, all, answeredAndAbandoned, answered, wait] = chartData(stats, T0 + 10 * HOUR);
  assert.deepEqual(x, stats.buckets.map((b) => b.start / 1000));
  assert.deepEqual(all, [null, 10, null, 4], "the one other call of bucket 1 is counted");
  assert.deepEqual(answeredAndAbandoned, [null, 9, null, 4]);
  assert.deepEqual(answered, [null, 6, null, 4]);
  assert.deepEqual(wait, [null, 30, null, 5], "no line at 0 before the first call, a gap after");
});

test("nothing is drawn for buckets not yet begun", () => {
  const stats = { buckets: [bucket(0, 2, 1, 1, 1000), bucket(1, 0, 0, 0, null), bucket(2, 0, 0, 0, null)] };
  const data = chartData(stats, T0 + HOUR - 1);
  for (const series of data.slice(1)) assert.deepEqual(series.slice(1), [null, null]);
});

test("a bucket's tooltip range is in the page's date format", () => {
  const zone = "America/New_York";
  assert.equal(formatBucket(T0, T0 + HOUR, zone, "hour", "en-US").replace(/\s/g, " "), "Wed, 3/13/2024, 9:00 – 10:00 AM");
  const day = Date.UTC(2024, 2, 13, 4);
  assert.equal(formatBucket(day, day + 86_400_000, zone, "day", "en-US"), "Wed, 3/13/2024");
});
