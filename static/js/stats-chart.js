// The Stats tab: uPlot graphs of one container (CPU, memory against its limit,
// network, block I/O, pids). History arrives on connect, then one point a tick.
// Ranges: 1 min and 15 min from the per-tick points; 1 h, 24 h and 7 d from the
// stored history (GET .../stats/?range=), read again each step, its newest end
// filled in from the per-tick points. A gap in sampling is drawn as a gap.
import { connect } from "./socket.js";
import { formatBytes, formatPercent, formatPercentTick, formatRate } from "./format.js";

const root = document.getElementById("container-stats");
const containerId = root.dataset.containerId;
const RANGES = { "1m": 60, "15m": 15 * 60, "1h": 3600, "24h": 24 * 3600, "7d": 7 * 24 * 3600 };
const STORED = new Set(["1h", "24h", "7d"]);
const YOUNG = 60; // a container younger than this is drawn over this many seconds
let range = "15m";
let stored = null; // the API's answer for the stored range shown: {fields, points, step}
let storedTimer = null;

const css = getComputedStyle(document.documentElement);
const color = (name) => css.getPropertyValue(name).trim() || "#1d63ed";

// Columns as the server sends them (FIELDS in containers_app/stats.py).
let fields = [];
let fine = [];
let interval = 1;

const col = (data, name) => data[fields.indexOf(name)] || [];

const CHARTS = [
  {
    key: "cpu",
    title: "CPU (% of one core)",
    series: [{ label: "CPU", field: "cpu_percent", stroke: "--accent", fill: true }],
    fmt: formatPercent,
    tick: formatPercentTick,
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

// Tick labels of the 7 d range: Tue 14:05.
function day(t) {
  const d = new Date(t * 1000);
  return `${d.toLocaleDateString(undefined, { weekday: "short" })} ${clock(t, true)}`;
}

const plots = new Map();

// Rows [t, ...values] of the range shown, oldest first.
function rowsShown(names) {
  const since = Date.now() / 1000 - RANGES[range];
  const rows = [];
  const add = (data, fieldNames, after) => {
    const times = data[fieldNames.indexOf("t")] || [];
    const cols = names.map((n) => data[fieldNames.indexOf(n)] || []);
    times.forEach((t, i) => {
      if (t >= since && t > after) rows.push([t, ...cols.map((c) => c[i])]);
    });
  };
  if (STORED.has(range) && stored) add(stored.points, stored.fields, -Infinity);
  // The newest end from the per-tick points (the stored ones lag by a step or two).
  add(fine, fields, rows.length ? rows[rows.length - 1][0] : -Infinity);
  return rows;
}

// A null after each point followed by none for more than 2.5 steps: uPlot breaks
// the line there instead of drawing a slope across the time nothing was sampled.
function withGaps(rows, step) {
  const out = [];
  rows.forEach((row, i) => {
    if (i > 0 && row[0] - rows[i - 1][0] > 2.5 * step) {
      out.push([rows[i - 1][0] + step, ...row.slice(1).map(() => null)]);
    }
    out.push(row);
  });
  return out;
}

function chartData(chart) {
  const names = chart.series.map((s) => s.field);
  const step = STORED.has(range) && stored ? stored.step : interval;
  const rows = withGaps(rowsShown(names), step);
  return [rows.map((r) => r[0]), ...names.map((_, i) => rows.map((r) => r[i + 1]))];
}

// The x axis ends now and spans the range, or only the last minute or so of a young
// container, so its first points are readable instead of a sliver at the edge.
function xRange(u, min) {
  const now = Math.max(u.data[0].length ? u.data[0][u.data[0].length - 1] : 0, Date.now() / 1000);
  const first = u.data[0].length ? u.data[0][0] : now;
  return [Math.max(now - RANGES[range], Math.min(first, now - YOUNG)), now];
}

function makePlot(chart) {
  const box = root.querySelector(`[data-chart="${chart.key}"]`);
  const width = Math.max(box.clientWidth - 8, 300);
  const opts = {
    width,
    height: 180,
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true, range: xRange } },
    axes: [
      {
        stroke: color("--muted"),
        grid: { stroke: color("--line") },
        space: 70,
        incrs: [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400],
        values: (u, ticks) => ticks.map((t) => (RANGES[range] > 86400 ? day(t) : clock(t, RANGES[range] > 3600))),
      },
      {
        stroke: color("--muted"),
        grid: { stroke: color("--line") },
        size: 80,
        values: (u, ticks, axis, space, step) => ticks.map((v) => (chart.tick ? chart.tick(v, step) : chart.fmt(v))),
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

const status = root.querySelector("[data-status]");
const rangeError = root.querySelector("[data-range-error]");

async function loadStored() {
  const shown = range;
  try {
    const response = await fetch(`/api/v1/containers/${containerId}/stats/?range=${shown}`, {
      headers: { Accept: "application/json" },
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    if (range !== shown) return; // another range was chosen meanwhile
    stored = body;
    rangeError.hidden = true;
    root.dataset.stored = String(col(body.points, "t").length);
    root.dataset.storedRange = shown;
  } catch (error) {
    rangeError.textContent = `The stored history could not be read: ${error.message}`;
    rangeError.hidden = false;
  }
  redraw();
}

function chooseRange(name) {
  range = name;
  clearInterval(storedTimer);
  stored = null;
  delete root.dataset.storedRange;
  if (STORED.has(name)) {
    loadStored();
    // Read again once a step: each brings a new stored point.
    storedTimer = setInterval(loadStored, (name === "7d" ? 60 : 10) * 1000);
  }
  redraw();
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
  status,
  onMessage(event) {
    const message = JSON.parse(event.data);
    if (message.type === "history") {
      fields = message.fields;
      fine = message.fine;
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
    root.querySelectorAll("[data-range]").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
    chooseRange(button.dataset.range);
  });
});

window.addEventListener("resize", () => {
  for (const chart of CHARTS) {
    const plot = plots.get(chart.key);
    const box = root.querySelector(`[data-chart="${chart.key}"]`);
    if (plot) plot.setSize({ width: Math.max(box.clientWidth - 8, 300), height: 180 });
  }
});
