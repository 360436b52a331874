// The Stats tab: uPlot graphs of one container (CPU, memory against its limit,
// network, block I/O, pids). History arrives on connect, then one point a tick.
// Ranges: 1 min and 15 min from the per-tick points, 6 h from the 10 s means.
import { connect } from "./socket.js";
import { formatBytes, formatPercent, formatRate } from "./format.js";

const root = document.getElementById("container-stats");
const containerId = root.dataset.containerId;
const RANGES = { "1m": 60, "15m": 15 * 60, "6h": 6 * 3600 };
let range = "15m";

const css = getComputedStyle(document.documentElement);
const color = (name) => css.getPropertyValue(name).trim() || "#1d63ed";

// Columns as the server sends them (FIELDS in containers_app/stats.py).
let fields = [];
let fine = [];
let coarse = [];
let interval = 1;

const col = (data, name) => data[fields.indexOf(name)] || [];

const CHARTS = [
  {
    key: "cpu",
    title: "CPU (% of one core)",
    series: [{ label: "CPU", field: "cpu_percent", stroke: "--accent", fill: true }],
    fmt: formatPercent,
  },
  {
    key: "mem",
    title: "Memory",
    series: [
      { label: "used", field: "mem_usage", stroke: "--accent", fill: true },
      { label: "limit", field: "mem_limit", stroke: "--err", dash: [6, 4] },
    ],
    fmt: formatBytes,
  },
  {
    key: "net",
    title: "Network",
    series: [
      { label: "received", field: "net_rx", stroke: "--accent" },
      { label: "sent", field: "net_tx", stroke: "--ok" },
    ],
    fmt: formatRate,
  },
  {
    key: "blk",
    title: "Block I/O",
    series: [
      { label: "read", field: "blk_read", stroke: "--accent" },
      { label: "written", field: "blk_write", stroke: "--warn" },
    ],
    fmt: formatRate,
  },
  {
    key: "pids",
    title: "Processes",
    series: [{ label: "pids", field: "pids", stroke: "--accent" }],
    fmt: (v) => (v === null || v === undefined ? "–" : String(Math.round(v))),
  },
];

// Wall-clock tick labels: 14:05:30, or 14:05 on the 6 h range.
function clock(t, minutesOnly) {
  const d = new Date(t * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return minutesOnly ? hm : `${hm}:${pad(d.getSeconds())}`;
}

const plots = new Map();

function chartData(chart) {
  const source = range === "6h" ? coarse : fine;
  const times = col(source, "t");
  const since = Date.now() / 1000 - RANGES[range];
  let start = 0;
  while (start < times.length && times[start] < since) start += 1;
  const out = [times.slice(start)];
  for (const s of chart.series) out.push(col(source, s.field).slice(start));
  return out;
}

function makePlot(chart) {
  const box = root.querySelector(`[data-chart="${chart.key}"]`);
  const width = Math.max(box.clientWidth - 8, 300);
  const opts = {
    width,
    height: 180,
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    // The x axis always spans the chosen range, ending now, so a young container's
    // few points sit at the right edge instead of being stretched over the width.
    scales: {
      x: { time: true, range: (u, min, max) => [Math.max(max, Date.now() / 1000) - RANGES[range], Math.max(max, Date.now() / 1000)] },
    },
    axes: [
      {
        stroke: color("--muted"),
        grid: { stroke: color("--line") },
        space: 70,
        incrs: [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800],
        values: (u, ticks) => ticks.map((t) => clock(t, RANGES[range] > 3600)),
      },
      {
        stroke: color("--muted"),
        grid: { stroke: color("--line") },
        size: 80,
        values: (u, ticks) => ticks.map((v) => chart.fmt(v)),
      },
    ],
    series: [
      {},
      ...chart.series.map((s) => ({
        label: s.label,
        stroke: color(s.stroke),
        width: 2,
        dash: s.dash,
        fill: s.fill ? `${color(s.stroke)}22` : undefined,
        value: (u, v) => chart.fmt(v),
        points: { show: false },
      })),
    ],
  };
  const plot = new uPlot(opts, chartData(chart), box);
  plots.set(chart.key, plot);
}

function redraw() {
  for (const chart of CHARTS) {
    const plot = plots.get(chart.key);
    if (plot) plot.setData(chartData(chart));
    else makePlot(chart);
  }
  root.dataset.points = String(col(fine, "t").length);
}

function showLatest(sample) {
  const set = (name, text) => {
    const el = root.querySelector(`[data-now="${name}"]`);
    if (el) el.textContent = text;
  };
  if (!sample) {
    set("cpu", "not running");
    return;
  }
  set("cpu", formatPercent(sample.cpu_percent));
  set(
    "mem",
    sample.mem_limited
      ? `${formatBytes(sample.mem_usage)} / ${formatBytes(sample.mem_limit)}`
      : `${formatBytes(sample.mem_usage)} (no limit)`,
  );
  // Without a limit of its own the "limit" is the host's memory: drawing it
  // would flatten the usage line to nothing.
  const memPlot = plots.get("mem");
  if (memPlot && memPlot.series[2].show !== sample.mem_limited) {
    memPlot.setSeries(2, { show: sample.mem_limited });
  }
  set("net", `${formatRate(sample.net_rx)} ↓ ${formatRate(sample.net_tx)} ↑`);
  set("blk", `${formatRate(sample.blk_read)} r ${formatRate(sample.blk_write)} w`);
  set("pids", sample.pids_limit ? `${sample.pids} / ${sample.pids_limit}` : String(sample.pids));
}

function addPoint(t, sample) {
  const keep = Math.ceil((15 * 60) / interval) + 5;
  fields.forEach((name, i) => {
    fine[i].push(name === "t" ? t : sample[name]);
    if (fine[i].length > keep) fine[i].shift();
  });
}

connect(`/ws/containers/${containerId}/stats/`, {
  status: root.querySelector("[data-status]"),
  onMessage(event) {
    const message = JSON.parse(event.data);
    if (message.type === "history") {
      fields = message.fields;
      fine = message.fine;
      coarse = message.coarse;
      interval = message.interval || 1;
      redraw();
    } else if (message.type === "sample") {
      showLatest(message.sample);
      if (message.sample) {
        addPoint(message.t, message.sample);
        redraw();
      }
    }
  },
});

root.querySelectorAll("[data-range]").forEach((button) => {
  button.addEventListener("click", () => {
    range = button.dataset.range;
    root.querySelectorAll("[data-range]").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
    redraw();
  });
});

window.addEventListener("resize", () => {
  for (const chart of CHARTS) {
    const plot = plots.get(chart.key);
    const box = root.querySelector(`[data-chart="${chart.key}"]`);
    if (plot) plot.setSize({ width: Math.max(box.clientWidth - 8, 300), height: 180 });
  }
});
