// Live progress of one job: a pull/push/build's per-layer bars, overall bytes, digest and
// log, or a class job's row per student. Frames come from /ws/jobs/<id>/; each carries the
// full layer table (or item table) and the log lines from `log_from` on, so a frame seen
// twice (or a reconnect) changes nothing.
import { formatBytes } from "./format.js";
import { connect } from "./socket.js";

const root = document.getElementById("job");
const jobId = root.dataset.jobId;
const stateEl = document.getElementById("job-state");
const connEl = document.getElementById("job-connection");
const errorEl = document.getElementById("job-error");
const digestEl = document.getElementById("job-digest");
const imageEl = document.getElementById("job-image-id");
const logEl = document.getElementById("job-log");
const fillEl = document.getElementById("overall-fill");
const overallText = document.getElementById("overall-text");
const layerBody = document.querySelector("#layers tbody");
const itemBody = document.querySelector("#job-items tbody");

let lastSeq = -1;
let lineCount = 0;
let finished = false;

function percent(layer) {
  if (layer.phase === "done" || layer.phase === "exists" || layer.phase === "downloaded") return 100;
  if (!layer.total) return 0;
  return Math.min(100, Math.round((100 * layer.current) / layer.total));
}

function renderLayers(layers) {
  if (!layerBody) return;
  const rows = new Map([...layerBody.children].map((tr) => [tr.dataset.layer, tr]));
  for (const layer of layers) {
    let tr = rows.get(layer.id);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.layer = layer.id;
      tr.innerHTML = '<td><code class="lid"></code></td><td class="status"></td>' +
        '<td class="bar-col"><div class="bar"><span></span></div></td><td class="r size"></td>';
      tr.querySelector(".lid").textContent = layer.id;
      layerBody.appendChild(tr);
    }
    tr.dataset.phase = layer.phase;
    tr.querySelector(".status").textContent = layer.status;  // engine text: never HTML
    const pct = percent(layer);
    const fill = tr.querySelector(".bar span");
    fill.style.width = `${pct}%`;
    fill.dataset.phase = layer.phase;
    tr.querySelector(".bar").setAttribute("aria-valuenow", String(pct));
    tr.querySelector(".size").textContent = layer.size ? formatBytes(layer.size) : "";
  }
}

const DONE_KEYS = ["removed", "created", "started", "kept", "stopped"];
// An item's state: waiting its turn, being worked on, then its result (ok or failed).
const ITEM_STATES = {
  waiting: ["waiting", ""],
  working: ["working…", "warn"],
  ok: ["done", "ok"],
  failed: ["failed", "error"],
};

// Jobs over many things (a class's students): a row per item, updated as it goes.
function renderItems(items) {
  if (!itemBody) return;
  for (const [name, result] of Object.entries(items)) {
    let tr = [...itemBody.rows].find((row) => row.dataset.item === name);
    if (!tr) {
      tr = itemBody.insertRow();
      tr.dataset.item = name;
      for (let i = 0; i < 3; i++) tr.insertCell();
      tr.cells[1].append(document.createElement("span"));
    }
    tr.dataset.state = result.state;
    tr.cells[0].textContent = name;
    const [words, tone] = ITEM_STATES[result.state] || [result.state, ""];
    const badge = tr.cells[1].firstChild;
    badge.textContent = words;
    badge.className = "badge " + tone;
    const done = DONE_KEYS.filter((k) => result[k] && result[k].length)
      .map((k) => `${k} ${result[k].join(", ")}`);
    const finished = result.state === "ok" || result.state === "failed";
    tr.cells[2].textContent = finished ? result.error || done.join("; ") || "nothing to do" : "";
  }
}

// The overall bar: bytes moved for a transfer, items finished for a job over many things.
function overall(frame) {
  const items = Object.values(frame.items || {});
  if (itemBody) {
    const ended = items.filter((r) => r.state === "ok" || r.state === "failed");
    const failed = ended.filter((r) => r.state === "failed").length;
    const pct = items.length ? Math.round((100 * ended.length) / items.length) : 0;
    const text = items.length ? `${ended.length} of ${items.length} done` : "";
    return [frame.state === "running" ? pct : 100, failed ? `${text}, ${failed} failed` : text];
  }
  const total = frame.bytes_total;
  const pct = total ? Math.round((100 * frame.bytes_done) / total) : 0;
  const text = total ? `${formatBytes(frame.bytes_done)} of ${formatBytes(total)}` : "";
  return [frame.state === "succeeded" ? 100 : pct, text];
}

function render(frame) {
  // An older snapshot than the one shown, unless it is the end (a job a restart cut short
  // comes back from its row, seq 0).
  if (frame.seq < lastSeq && frame.state === "running") return;
  lastSeq = frame.seq;
  stateEl.textContent = frame.state;
  stateEl.dataset.state = frame.state;
  stateEl.className = "badge " + ({ succeeded: "ok", failed: "error" }[frame.state] || "warn");
  if (digestEl) digestEl.textContent = frame.digest || "—";  // not on a class job's page
  if (imageEl) imageEl.textContent = frame.image_id || "—";
  if (frame.error) { errorEl.hidden = false; errorEl.textContent = frame.error; }
  renderLayers(frame.layers || []);
  renderItems(frame.items || {});
  if (fillEl) {
    const [pct, text] = overall(frame);
    fillEl.style.width = `${pct}%`;
    fillEl.parentElement.setAttribute("aria-valuenow", String(pct));
    overallText.textContent = text;
  }
  const start = lineCount - frame.log_from;
  if (start >= 0 && start < frame.lines.length) {
    const atBottom = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 4;
    logEl.append(document.createTextNode(frame.lines.slice(start).join("\n") + "\n"));
    lineCount = frame.log_from + frame.lines.length;
    if (atBottom) logEl.scrollTop = logEl.scrollHeight;
  } else if (frame.log_from > lineCount) {
    logEl.append(document.createTextNode(`… ${frame.log_from - lineCount} lines not shown\n` + frame.lines.join("\n") + "\n"));
    lineCount = frame.log_from + frame.lines.length;
  }
  if (frame.state !== "running") finished = true;
}

render(JSON.parse(document.getElementById("job-frame").textContent));
if (!finished) {
  const socket = connect(`/ws/jobs/${jobId}/`, {
    status: connEl,
    final: { 4404: "This job no longer exists." },
    onMessage(event) {
      render(JSON.parse(event.data));
      if (finished) socket.close("");
    },
  });
}
