// The class grid: a tile per student from /ws/classes/{slug}/, one frame per tick.
// The server computes the frame once for every viewer; this only draws it and
// sorts the tiles (by name, or by load: the busiest first).

import { connect } from "./socket.js";
import { formatBytes, formatPercent } from "./format.js";

const root = document.getElementById("class-grid");
const tiles = root.querySelector("[data-tiles]");
const BADGES = { oom: "OOM killed", restarts: "restart loop", throttled: "throttled" };
let sortBy = "name";
let lastFrame = null;

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

function level(percent) {
  if (percent >= 90) return "err";
  if (percent >= 60) return "warn";
  return "ok";
}

function meter(label, percent, detail) {
  const row = el("div", { class: "grid-meter", "data-meter": label });
  row.append(el("span", { class: "lbl" }, label));
  const bar = el("span", { class: `bar ${level(percent)}` });
  const fill = el("span", { class: "fill" });
  fill.style.width = `${Math.min(100, Math.max(0, percent))}%`;
  bar.append(fill);
  row.append(bar, el("span", { class: "val" }, detail));
  return row;
}

function containerLine(c) {
  const item = el("li", { class: "grid-container", "data-container": c.name, "data-state": c.state });
  const head = el("div", { class: "grid-container-head" });
  head.append(el("span", { class: "name" }, c.name), el("span", { class: `badge ${c.state}` }, c.state));
  if (c.node) head.append(el("span", { class: "muted", "data-node": c.node, title: "Swarm node" }, `on ${c.node}`));
  if (c.state === "running" && c.cpu_limit) {
    head.append(el("span", { class: "muted", "data-cpu-limit": "" }, `${c.cpu_limit} CPU`));
  }
  for (const badge of c.badges) {
    head.append(el("span", { class: "badge error", "data-badge": badge }, BADGES[badge] || badge));
  }
  for (const alert of c.alerts || []) {
    const kind = alert.state === "acknowledged" ? "warn" : "error";
    const mark = el("span", { class: `badge ${kind}`, "data-alert": alert.kind, title: `alert ${alert.state}` }, `⚠ ${alert.title}`);
    head.append(mark);
  }
  item.append(head);
  if (c.status && c.state !== "running") item.append(el("div", { class: "muted", "data-status": "" }, c.status));
  if (c.state === "running" && !c.measured) {
    item.append(el("div", { class: "muted", "data-unmeasured": "" }, "no figures from this node (no sampler there)"));
  } else if (c.state === "running") {
    item.append(meter("CPU", c.cpu_of_limit, formatPercent(c.cpu_of_limit)));
    const mem = meter("Mem", c.mem_percent, formatBytes(c.mem_usage));
    mem.title = `${formatBytes(c.mem_usage)} of ${formatBytes(c.mem_limit)}`;
    item.append(mem);
  }
  return item;
}

function tile(student) {
  const url = new URL(root.dataset.containersUrl, location.href);
  url.searchParams.set("label", `${root.dataset.ownerLabel}=${student.username}`);
  const li = el("li", { class: "grid-tile", "data-student": student.username, "data-load": String(student.load) });
  const link = el("a", { href: url.pathname + url.search, class: "grid-tile-link" });
  const head = el("div", { class: "grid-tile-head" });
  head.append(el("strong", {}, student.username));
  if (student.full_name) head.append(el("span", { class: "muted" }, student.full_name));
  link.append(head);
  if (student.terminals) {
    // A line of its own: the head's width goes to the username.
    const text = student.terminals > 1 ? `${student.terminals} terminals open` : "terminal open";
    const mark = el("div", { class: "grid-tile-mark" });
    mark.append(el("span", { class: "badge warn", "data-terminals": String(student.terminals) }, text));
    link.append(mark);
  }
  const list = el("ul", { class: "grid-containers" });
  for (const c of student.containers) list.append(containerLine(c));
  if (!student.containers.length) list.append(el("li", { class: "muted" }, "no lab containers"));
  link.append(list);
  li.append(link);
  return li;
}

function sorted(students) {
  const copy = [...students];
  if (sortBy === "load") {
    copy.sort((a, b) => b.load - a.load || a.username.localeCompare(b.username));
  } else {
    copy.sort((a, b) => a.username.localeCompare(b.username));
  }
  return copy;
}

function setTotal(name, text) {
  root.querySelector(`[data-total="${name}"]`).textContent = text;
}

function draw(frame) {
  lastFrame = frame;
  const t = frame.totals;
  setTotal("students", String(t.students));
  setTotal("running", String(t.running));
  setTotal("containers", `of ${t.containers} lab containers`);
  setTotal("cpu", formatPercent(t.cpu_percent));
  setTotal("mem", formatBytes(t.mem_usage));
  setTotal("alerts", String(t.alerts));
  setTotal("alerts-sub", `now: ${t.oom} OOM · ${t.restarts} restarting · ${t.throttled} throttled`);
  tiles.replaceChildren(...sorted(frame.students).map(tile));
  root.dataset.frameT = String(frame.t);
}

for (const button of root.querySelectorAll("[data-sort]")) {
  button.addEventListener("click", () => {
    sortBy = button.dataset.sort;
    for (const b of root.querySelectorAll("[data-sort]")) {
      b.setAttribute("aria-pressed", String(b === button));
    }
    if (lastFrame) draw(lastFrame);
  });
}

connect(root.dataset.socket, {
  status: root.querySelector("[data-status]"),
  final: { 4404: "This class does not exist, or is not yours." },
  onMessage: (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "grid") draw(frame);
  },
});
