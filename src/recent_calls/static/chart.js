// Calls per bucket as an inline SVG bar chart: no library, no inline styles (CSP friendly).

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 960;
const HEIGHT = 240;
const PAD = { top: 12, right: 12, bottom: 36, left: 48 };

function node(name, attributes = {}, text = "") {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) {
    element.setAttribute(key, String(value));
  }
  if (text) element.textContent = text;
  return element;
}

function niceMax(value) {
  if (value <= 5) return 5;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * power) return step * power;
  }
  return 10 * power;
}

// Short axis label of a bucket's ISO local start: "03-10" for days, "03-10 14h" for hours.
function tick(label, interval) {
  const day = label.slice(5, 10);
  return interval === "hour" ? `${day} ${label.slice(11, 13)}h` : day;
}

export function drawChart(container, stats) {
  container.replaceChildren();
  const buckets = stats.buckets;
  const peak = niceMax(Math.max(0, ...buckets.map((bucket) => bucket.calls)));
  const svg = node("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    class: "chart-svg",
    "aria-label":
      `${stats.totals.calls} calls in ${buckets.length} ` +
      `${stats.interval === "hour" ? "hours" : "days"}; the busiest had ` +
      `${Math.max(0, ...buckets.map((bucket) => bucket.calls))}`,
  });
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const baseline = PAD.top + plotHeight;

  for (const fraction of [0, 0.5, 1]) {
    const y = baseline - fraction * plotHeight;
    svg.append(node("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y, y2: y, class: "grid" }));
    svg.append(
      node("text", { x: PAD.left - 6, y: y + 4, class: "axis", "text-anchor": "end" },
        String(Math.round(fraction * peak))),
    );
  }

  const slot = buckets.length ? plotWidth / buckets.length : plotWidth;
  const gap = slot > 4 ? Math.min(2, slot * 0.2) : 0;
  const labelEvery = Math.max(1, Math.ceil(buckets.length / 12));
  buckets.forEach((bucket, index) => {
    const height = (bucket.calls / peak) * plotHeight;
    const x = PAD.left + index * slot;
    const bar = node("rect", {
      x: x + gap / 2,
      y: baseline - height,
      width: Math.max(slot - gap, 0.5),
      height,
      class: "bar",
      "data-start": bucket.start,
      "data-calls": bucket.calls,
    });
    bar.append(node("title", {}, `${bucket.label}: ${bucket.calls} calls`));
    svg.append(bar);
    if (index % labelEvery === 0) {
      svg.append(
        node("text", { x: x + slot / 2, y: baseline + 16, class: "axis", "text-anchor": "middle" },
          tick(bucket.label, stats.interval)),
      );
    }
  });
  svg.append(node("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: baseline, y2: baseline,
    class: "baseline" }));
  container.append(svg);
}
