// The live "top": one row per running container, host totals on top, all fed by
// the /ws/stats/ frames (one per tick). Rows keep their place while numbers
// change: the order is only recomputed on a header click and every few
// seconds, and never while the pointer is over the table.
import { connect } from "./socket.js";
import { formatBytes, formatPercent, formatRate } from "./format.js";

const root = document.getElementById("stats-overview");
const body = root.querySelector("tbody");
const empty = root.querySelector("[data-empty]");
const statsUrl = root.dataset.statsUrl; // ".../ID/stats/"
const SPARK = 60;
const RESORT_MS = 5000;

const rows = new Map(); // id -> {tr, cells, line, cpu: [], sample}
const pendingHistory = new Map(); // id -> CPU points sent on connect, until its row exists
let sortKey = "cpu_percent";
let sortDesc = true;
let hovering = false;
let lastSort = 0;

const COLUMNS = {
  name: (s) => s.name.toLowerCase(),
  cpu_percent: (s) => s.cpu_percent,
  mem_usage: (s) => s.mem_usage,
  mem_percent: (s) => s.mem_percent,
  net: (s) => s.net_rx + s.net_tx,
  blk: (s) => s.blk_read + s.blk_write,
  pids: (s) => s.pids,
};

function cell(tr, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function makeRow(sample) {
  const tr = document.createElement("tr");
  tr.dataset.id = sample.id;
  const nameCell = cell(tr);
  const link = document.createElement("a");
  link.href = statsUrl.replace("ID", sample.id);
  nameCell.appendChild(link);
  const cells = {
    name: link,
    cpu: cell(tr, "r"),
    mem: cell(tr, "r pair"),
    memPct: cell(tr, "r"),
    net: cell(tr, "r pair"),
    blk: cell(tr, "r pair"),
    pids: cell(tr, "r"),
  };
  const sparkCell = cell(tr, "spark");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${SPARK} 20`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-label", "CPU, last minute");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  svg.appendChild(line);
  sparkCell.appendChild(svg);
  const row = { tr, cells, line, cpu: pendingHistory.get(sample.id) || [], sample };
  pendingHistory.delete(sample.id);
  rows.set(sample.id, row);
  body.appendChild(tr);
  return row;
}

function drawSpark(row) {
  const values = row.cpu.slice(-SPARK);
  const top = Math.max(100, ...values);
  const offset = SPARK - values.length;
  row.line.setAttribute(
    "points",
    values.map((v, i) => `${offset + i},${(20 - (v / top) * 19).toFixed(1)}`).join(" "),
  );
}

// A figure and its unit never part; a cell of two figures may break between them (narrow screens).
const glued = (text) => text.replaceAll(" ", "\u00a0");

function fill(row, s) {
  row.sample = s;
  const c = row.cells;
  c.name.textContent = s.name; // text only: names come from Docker
  c.name.title = s.id.slice(0, 12);
  c.cpu.textContent = formatPercent(s.cpu_percent);
  c.mem.textContent = `${glued(formatBytes(s.mem_usage))} / ${glued(formatBytes(s.mem_limit))}`;
  c.memPct.textContent = formatPercent(s.mem_percent);
  c.net.textContent = `${glued(`${formatRate(s.net_rx)} ↓`)} ${glued(`${formatRate(s.net_tx)} ↑`)}`;
  c.blk.textContent = `${glued(`${formatRate(s.blk_read)} r`)} ${glued(`${formatRate(s.blk_write)} w`)}`;
  c.pids.textContent = s.pids_limit ? `${s.pids} / ${s.pids_limit}` : String(s.pids);
  row.cpu.push(s.cpu_percent);
  if (row.cpu.length > SPARK) row.cpu.shift();
  drawSpark(row);
}

function resort(force) {
  const now = Date.now();
  if (!force && (hovering || now - lastSort < RESORT_MS)) return;
  lastSort = now;
  const key = COLUMNS[sortKey];
  const ordered = [...rows.values()].sort((a, b) => {
    const x = key(a.sample);
    const y = key(b.sample);
    const cmp = x < y ? -1 : x > y ? 1 : a.sample.name.localeCompare(b.sample.name);
    return sortDesc ? -cmp : cmp;
  });
  ordered.forEach((row, i) => {
    if (body.children[i] !== row.tr) body.insertBefore(row.tr, body.children[i] || null);
  });
}

function setHost(host) {
  const set = (name, text) => {
    root.querySelector(`[data-host="${name}"]`).textContent = text;
  };
  set("cpu", formatPercent(host.cpu_percent));
  set("cpu-sub", `of ${host.ncpu * 100} % (${host.ncpu} cores)`);
  set("mem", formatBytes(host.mem_used));
  set("mem-sub", `of ${formatBytes(host.mem_total)}`);
}

// The engine not answering is said as such, never as "0 running containers".
function setEngine(error) {
  const banner = root.querySelector("[data-engine-down]");
  banner.hidden = !error;
  banner.querySelector("[data-engine-error]").textContent = error || "";
  root.dataset.engine = error ? "down" : "up";
  return !error;
}

// Compact frames (?compact=1): rows as arrays in the order of `fields`, all of them
// in a full frame, else only those that changed since the previous frame, and the
// ids of those gone.
let fields = [];

function samplesOf(frame) {
  if (frame.full) fields = frame.fields;
  const made = frame.rows.map((values) =>
    Object.fromEntries(fields.map((name, i) => [name, values[i]])),
  );
  if (frame.full) return made;
  const gone = new Set(frame.gone);
  const changed = new Map(made.map((s) => [s.id, s]));
  const kept = [...rows.values()]
    .filter((row) => !gone.has(row.sample.id) && !changed.has(row.sample.id))
    .map((row) => row.sample);
  return [...kept, ...changed.values()];
}

function onFrame(frame) {
  if (!setEngine(frame.engine_error)) {
    root.querySelector('[data-host="count"]').textContent = "–";
    empty.hidden = true;
    return;
  }
  setHost(frame.host);
  const seen = new Set();
  let added = false;
  for (const s of samplesOf(frame)) {
    seen.add(s.id);
    let row = rows.get(s.id);
    if (!row) {
      row = makeRow(s);
      added = true;
    }
    fill(row, s);
  }
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.tr.remove();
      rows.delete(id);
    }
  }
  root.querySelector('[data-host="count"]').textContent = String(rows.size);
  empty.hidden = rows.size > 0;
  const ticks = Number(root.dataset.ticks || 0) + 1;
  root.dataset.ticks = String(ticks);
  // The first frames after connecting carry the first rates: order by them at once.
  resort(!hovering && (added || ticks <= 3));
}

function onHistory(message) {
  for (const [id, history] of Object.entries(message.containers)) {
    const values = history.fine[history.fields.indexOf("cpu_percent")] || [];
    pendingHistory.set(id, values.slice(-SPARK));
  }
}

root.querySelectorAll("th[data-sort]").forEach((th) => {
  th.addEventListener("click", () => {
    const key = th.dataset.sort;
    sortDesc = key === sortKey ? !sortDesc : key !== "name";
    sortKey = key;
    root.querySelectorAll("th[data-sort]").forEach((h) => h.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", sortDesc ? "descending" : "ascending");
    resort(true);
  });
});
body.addEventListener("pointerenter", () => {
  hovering = true;
});
body.addEventListener("pointerleave", () => {
  hovering = false;
});

const socket = connect("/ws/stats/?compact=1", {
  status: root.querySelector("[data-status]"),
  onMessage(event) {
    const message = JSON.parse(event.data);
    if (message.type === "history") onHistory(message);
    else if (message.type === "stats") {
      onFrame(message);
      // Drawn: the server sends the next tick's frame only after this.
      requestAnimationFrame(() => socket.send("ack"));
    }
  },
});
