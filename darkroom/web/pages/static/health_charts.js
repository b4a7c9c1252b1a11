// The operator health page's charts of the last hour (ops_health.html, docs/observability.md):
// fetches /ops/health/history (one point per 10 s, at most an hour, kept in Redis) and draws each
// chart with the pinned uPlot, preloaded by the page at its content-addressed URL. Refreshed every
// 10 s while the tab is visible. No inline style: uPlot sizes through the CSSOM, which the CSP allows.
const EVERY_MS = 10000;
const HEIGHT = 160;
const section = document.querySelector("[data-history]");
const moduleUrl = document.querySelector('link[rel="modulepreload"][data-module="uplot"]')?.href;
const plots = new Map();
let uPlot;

function colours() {
  const style = getComputedStyle(document.documentElement);
  const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
  return [read("--focus", "#2563eb"), read("--accent", "#d9534f"), read("--muted", "#666")];
}

function widthOf(element) {
  return Math.max(200, Math.floor(element.clientWidth));
}

function draw(chart, times) {
  const figure = section.querySelector(`[data-chart="${CSS.escape(chart.id)}"]`);
  if (!figure) return;
  const target = figure.querySelector(".chart-plot");
  const names = Object.keys(chart.series);
  const data = [times, ...names.map((n) => chart.series[n])];
  const existing = plots.get(chart.id);
  if (existing) {
    existing.setData(data);
    return;
  }
  const palette = colours();
  const text = getComputedStyle(document.body).color;
  const axis = { stroke: text, grid: { stroke: "rgba(128,128,128,.2)" }, ticks: { stroke: "rgba(128,128,128,.3)" } };
  const small = (u, values) => values.map((v) => (v == null ? "" : String(+v.toPrecision(2))));
  const options = {
    width: widthOf(target),
    height: HEIGHT,
    // always the last hour, however few points there are yet
    scales: { x: { time: true, range: () => [Date.now() / 1000 - 3600, Date.now() / 1000] } },
    series: [{}, ...names.map((n, i) => ({ label: n, stroke: palette[i % palette.length], width: 2, spanGaps: false }))],
    axes: [axis, { ...axis, size: 56, values: small }],
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
  };
  plots.set(chart.id, new uPlot(options, data, target));
}

async function refresh() {
  if (document.visibilityState !== "visible") return;
  const answer = await fetch(section.dataset.history, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (!answer.ok) return;
  const history = await answer.json();
  section.querySelector(".chart-empty").hidden = history.t.length > 0;
  for (const chart of history.charts) draw(chart, history.t);
  section.dataset.points = String(history.t.length); // what the tests wait for
}

function resize() {
  for (const [id, plot] of plots) {
    const target = section.querySelector(`[data-chart="${CSS.escape(id)}"] .chart-plot`);
    if (target) plot.setSize({ width: widthOf(target), height: HEIGHT });
  }
}

if (section && moduleUrl) {
  uPlot = (await import(moduleUrl)).default;
  await refresh();
  setInterval(refresh, EVERY_MS);
  document.addEventListener("visibilitychange", refresh);
  new ResizeObserver(resize).observe(section);
}
