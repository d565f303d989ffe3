// Calls per bucket with uPlot (vendored under static/vendor): answered, abandoned and other
// calls as stacked bars, the average wait as a line (m:ss) on its own axis, under a legend.
// Ticks name the weekday; a tooltip follows the pointer, a tap, or the arrow keys; dragging
// across a range zooms the window to it.

import { $ } from "./dom.js";
import { formatBucket, formatCount, formatDuration, formatTick } from "./format.js";

// The plotted series of `stats` at time `now`, pure: x (epoch s), then the stacked bar tops
// (every call, answered + abandoned, answered) and the average wait in seconds. A bucket with
// no calls, or not begun by `now`, draws nothing (null): no bar, no dash, a gap in the line.
export function chartData(stats, now) {
  const buckets = stats.buckets;
  const drawn = (bucket, value) => (bucket.calls > 0 && bucket.start <= now ? value : null);
  return [
    buckets.map((bucket) => bucket.start / 1000),
    buckets.map((bucket) => drawn(bucket, bucket.calls)),
    buckets.map((bucket) => drawn(bucket, Math.min(bucket.calls, bucket.answered + bucket.abandoned))),
    buckets.map((bucket) => drawn(bucket, bucket.answered)),
    buckets.map((bucket) => (bucket.avgWaitTime === null ? null : drawn(bucket, bucket.avgWaitTime / 1000))),
  ];
}

// About one tick label per 90 px, at most 12.
function tickSplits(starts, width) {
  const most = Math.max(2, Math.min(12, Math.floor(width / 90)));
  const every = Math.max(1, Math.ceil(starts.length / most));
  return starts.filter((_, index) => index % every === 0);
}

export class Chart {
  constructor({ onZoom }) {
    this.onZoom = onZoom;
    this.plot = null;
    this.stats = null;
    this.index = null;
    const box = $("chart");
    box.addEventListener("keydown", (event) => this.key(event));
    box.addEventListener("blur", () => { if (!this.hovering) this.tip(null); });
    new ResizeObserver(() => this.resize()).observe(box);
  }

  size() {
    const box = $("chart");
    return { width: Math.max(280, box.clientWidth), height: box.clientHeight || 200 };
  }

  resize() {
    if (this.plot) this.plot.setSize(this.size());
  }

  key(event) {
    if (!this.stats || !this.stats.buckets.length) return;
    const last = this.stats.buckets.length - 1;
    const moves = {
      ArrowRight: (i) => Math.min(last, (i ?? -1) + 1),
      ArrowLeft: (i) => Math.max(0, (i ?? last + 1) - 1),
      Home: () => 0,
      End: () => last,
    };
    if (!moves[event.key]) return;
    event.preventDefault();
    this.show(moves[event.key](this.index));
  }

  // Point the cursor at bucket `index` and read it out.
  show(index) {
    this.index = index;
    const bucket = this.stats.buckets[index];
    const left = this.plot.valToPos(bucket.start / 1000, "x");
    this.plot.setCursor({ left, top: 10 });
    this.tip(index);
  }

  tip(index) {
    const tip = $("chart-tip");
    if (index === null || index === undefined || !this.stats?.buckets[index]) {
      tip.textContent = "";
      return;
    }
    const bucket = this.stats.buckets[index];
    const when = formatBucket(bucket.start, bucket.end, this.stats.timezone, this.stats.interval);
    if (bucket.start > this.now) {
      tip.textContent = `${when}: not yet`;
      return;
    }
    const other = Math.max(0, bucket.calls - bucket.answered - bucket.abandoned);
    const wait = bucket.avgWaitTime === null ? "no wait" : `average wait ${formatDuration(bucket.avgWaitTime)}`;
    const handle = bucket.avgHandleTime === null ? "" : `, average handle time ${formatDuration(bucket.avgHandleTime)}`;
    tip.textContent = `${when}: ${formatCount(bucket.calls)} calls, ${formatCount(bucket.answered)} answered, ${formatCount(bucket.abandoned)} abandoned, ${formatCount(other)} other, ${wait}${handle}`;
  }

  clear(message) {
    this.plot?.destroy();
    this.plot = null;
    this.stats = null;
    $("chart").replaceChildren();
    $("chart-tip").textContent = message ?? "";
  }

  // Draw `stats` as of `now` (epoch ms, the server's clock): later buckets stay empty.
  draw(stats, now = Infinity) {
    this.plot?.destroy();
    this.stats = stats;
    this.now = now;
    this.index = null;
    const zone = stats.timezone;
    const interval = stats.interval;
    const data = chartData(stats, now);
    const x = data[0];
    const uPlot = globalThis.uPlot;
    const bars = uPlot.paths.bars({ size: [0.8, 60], align: 1 });
    const box = $("chart");
    box.replaceChildren();
    const options = {
      ...this.size(),
      legend: { show: false },
      cursor: {
        drag: { x: true, y: false, setScale: false },
        points: { show: false },
      },
      select: { show: true },
      scales: { x: { time: false }, calls: { range: (u, min, max) => [0, Math.max(5, max * 1.1)] },
        wait: { range: (u, min, max) => [0, Math.max(10, (max ?? 0) * 1.2)] } },
      axes: [
        {
          label: `Time (${zone})`,
          splits: (u) => tickSplits(x, u.bbox.width / (globalThis.devicePixelRatio || 1)),
          values: (u, splits) => {
            const ticks = splits.map((value) => formatTick(value * 1000, zone, interval));
            box.dataset.ticks = ticks.join(" | ");
            return ticks;
          },
          stroke: "#4a5360",
          grid: { show: false },
        },
        {
          scale: "calls", label: "Calls", stroke: "#4a5360",
          values: (u, splits) => splits.map((value) => formatCount(value)),
          grid: { stroke: "#e1e6eb" },
        },
        {
          scale: "wait", side: 1, label: "Average wait (m:ss)", stroke: "#8a3c00", size: 60,
          // Whole seconds only, so every tick reads as m:ss without rounding to a repeat.
          incrs: [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200],
          values: (u, splits) => {
            const ticks = splits.map((value) => formatDuration(value * 1000));
            box.dataset.waitTicks = ticks.join(" | ");
            return ticks;
          },
          grid: { show: false },
        },
      ],
      series: [
        {},
        // Stacked: each bar is drawn to its running total, the tallest first, behind the rest.
        { label: "Other", scale: "calls", paths: bars, fill: "#8d99a6", stroke: "#8d99a6", points: { show: false } },
        { label: "Abandoned", scale: "calls", paths: bars, fill: "#c0392b", stroke: "#c0392b", points: { show: false } },
        { label: "Answered", scale: "calls", paths: bars, fill: "#1f6fbf", stroke: "#1f6fbf", points: { show: false } },
        { label: "Average wait", scale: "wait", stroke: "#8a3c00", width: 2, spanGaps: false, points: { show: false } },
      ],
      hooks: {
        setCursor: [(u) => {
          if (u.cursor.idx !== null && u.cursor.idx !== undefined && u.cursor.left >= 0) {
            this.index = u.cursor.idx;
            this.tip(u.cursor.idx);
          }
        }],
        setSelect: [(u) => this.zoom(u)],
      },
    };
    // The x scale spans whole buckets: one more step past the last start.
    const step = x.length > 1 ? x[1] - x[0] : 3600;
    options.scales.x.range = () => [x[0] ?? 0, (x.at(-1) ?? 0) + step];
    this.plot = new uPlot(options, data, box);
    const over = this.plot.over;
    over.addEventListener("mouseenter", () => { this.hovering = true; });
    over.addEventListener("mouseleave", () => { this.hovering = false; });
    // A tap on a touch screen points the cursor at the bucket under the finger.
    over.addEventListener("pointerup", (event) => {
      if (event.pointerType !== "touch" || !this.stats?.buckets.length) return;
      const left = event.clientX - over.getBoundingClientRect().left;
      const index = this.plot.posToIdx(left);
      if (index !== null && index >= 0) this.show(index);
    });
    const busiest = Math.max(0, ...stats.buckets.map((bucket) => bucket.calls));
    box.setAttribute("aria-label", `${formatCount(stats.totals.calls)} calls in ${formatCount(stats.buckets.length)} ${interval === "hour" ? "hours" : "days"}; the busiest had ${formatCount(busiest)}`);
  }

  // A drag across the plot: the window becomes the buckets it covers.
  zoom(u) {
    const { left, width } = u.select;
    if (!this.stats || width < 4) return;
    const from = u.posToVal(left, "x") * 1000;
    const to = u.posToVal(left + width, "x") * 1000;
    const buckets = this.stats.buckets.filter((bucket) => bucket.end > from && bucket.start < to);
    u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
    if (buckets.length) this.onZoom(buckets[0].start, buckets.at(-1).end - 1);
  }
}
