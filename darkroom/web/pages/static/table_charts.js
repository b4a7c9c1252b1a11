// The stats pages' charts (post_stats.html, ops_pipeline.html; docs/web.md): each
// figure[data-chart-table] is drawn with the pinned uPlot from the rows of the table it names, the
// accessible table of the same numbers: no second request, no inline script. A row is a point:
// data-t its day (epoch s), data-<metric> its values. With data-metrics, one line per metric;
// with data-by="series", one line per row's data-series, of the one metric. No inline style:
// uPlot sizes through the CSSOM, which the CSP allows.
const HEIGHT = 200;
const DAY_S = 86400;
const moduleUrl = document.querySelector('link[rel="modulepreload"][data-module="uplot"]')?.href;
const figures = [...document.querySelectorAll("figure[data-chart-table]")];
const plots = new Map();

function palette() {
  const style = getComputedStyle(document.documentElement);
  const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
  return [read("--focus", "#1a56c4"), read("--accent", "#b3261e"), "#2e8b57", "#b8860b", "#8a4fbf", "#0e8a8a", "#c2185b", "#6d6d77"];
}

function number(text) {
  return text === null || text === "" ? null : Number(text);
}

// [xs, ...ys] and the series' names, from the table's rows
function dataOf(figure) {
  const table = document.getElementById(figure.dataset.chartTable);
  const rows = table ? [...table.querySelectorAll("tbody tr[data-t]")] : [];
  const xs = [...new Set(rows.map((r) => Number(r.dataset.t)))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const metrics = figure.dataset.metrics.split(" ");
  const lines = new Map();
  const line = (name) => {
    if (!lines.has(name)) lines.set(name, new Array(xs.length).fill(null));
    return lines.get(name);
  };
  if (figure.dataset.by === "series") {
    for (const row of rows) line(row.dataset.series)[at.get(Number(row.dataset.t))] = number(row.getAttribute(`data-${metrics[0]}`));
    return { names: [...lines.keys()], data: [xs, ...lines.values()] };
  }
  const labels = (figure.dataset.labels || "").split("|");
  for (const row of rows) metrics.forEach((m) => (line(m)[at.get(Number(row.dataset.t))] = number(row.getAttribute(`data-${m}`))));
  return { names: metrics.map((m, i) => labels[i] || m), data: [xs, ...metrics.map((m) => line(m))] };
}

function widthOf(element) {
  return Math.max(240, Math.floor(element.clientWidth));
}

function draw(uPlot, figure) {
  const target = figure.querySelector(".chart-plot");
  const { names, data } = dataOf(figure);
  if (!target || data[0].length === 0) return;
  const colours = palette();
  const text = getComputedStyle(document.body).color;
  const axis = { stroke: text, grid: { stroke: "rgba(128,128,128,.2)" }, ticks: { stroke: "rgba(128,128,128,.3)" } };
  const small = (u, values) => values.map((v) => (v == null ? "" : String(+v.toPrecision(3))));
  const options = {
    width: widthOf(target),
    height: HEIGHT,
    // one day alone still gets an axis a day either side of it
    scales: { x: { time: true, range: (u, min, max) => (min === max ? [min - DAY_S, max + DAY_S] : [min, max]) } },
    series: [
      { label: "Day", value: (u, t) => (t == null ? "" : new Date(t * 1000).toISOString().slice(0, 10)) },
      ...names.map((n, i) => ({ label: n, stroke: colours[i % colours.length], width: 2, points: { show: true, size: 5 }, spanGaps: true })),
    ],
    axes: [axis, { ...axis, size: 56, values: small }],
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
  };
  plots.set(figure, new uPlot(options, data, target));
  figure.dataset.drawn = String(data[0].length); // what the tests wait for
}

function resize() {
  for (const [figure, plot] of plots) {
    plot.setSize({ width: widthOf(figure.querySelector(".chart-plot")), height: HEIGHT });
  }
}

if (figures.length && moduleUrl) {
  const uPlot = (await import(moduleUrl)).default;
  for (const figure of figures) draw(uPlot, figure);
  new ResizeObserver(resize).observe(document.querySelector("main"));
}
