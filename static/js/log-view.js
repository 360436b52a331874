// The Logs tab: xterm.js over /ws/containers/{id}/logs/. Lines arrive in batched
// frames marked stdout ("o") or stderr ("e"). Log text is untrusted: only colour
// codes (SGR) pass through; every other control character is shown as ^X.
import { connect } from "./socket.js";
import { CYAN, DIM, RED, RESET, YELLOW, sanitize } from "./log-text.js";
import { openTerm } from "./xterm-view.js";

const root = document.getElementById("container-logs");
const containerId = root.dataset.containerId;
const form = root.querySelector("form[data-options]");
const notice = root.querySelector("[data-notice]");
const jump = root.querySelector("[data-jump]");
const searchBox = root.querySelector("[data-search]");
const status = root.querySelector("[data-status]");

const { term } = openTerm(root, {
  convertEol: true,
  disableStdin: true,
  scrollback: 200000,
  fontSize: 14,
  allowProposedApi: true, // search decorations
  theme: { background: "#0f1317", foreground: "#e7ebf0" },
});
const search = new SearchAddon.SearchAddon();
term.loadAddon(search);

let lastStamp = null; // the newest line's time, for a reconnect without duplicates
let lineCount = 0;
let newBelow = 0;
let ended = false;

function options() {
  const data = new FormData(form);
  return {
    tail: data.get("tail") || "100",
    follow: data.get("follow") ? "1" : "0",
    timestamps: data.get("timestamps") ? "1" : "0",
    since: data.get("since") || "",
  };
}

function socketPath() {
  const o = options();
  const query = new URLSearchParams({ tail: o.tail, follow: o.follow, timestamps: "1" });
  if (lastStamp !== null) {
    // Resuming after a dropped connection: only what came after the last line seen.
    query.set("tail", "all");
    query.set("since", String(lastStamp + 0.000001));
  } else if (o.since) {
    query.set("since", String(new Date(o.since).getTime() / 1000));
  }
  return `/ws/containers/${containerId}/logs/?${query}`;
}

function atBottom() {
  const buffer = term.buffer.active;
  return buffer.viewportY >= buffer.baseY;
}

function writeLines(lines) {
  const showStamps = options().timestamps === "1";
  const follow = atBottom();
  let out = "";
  for (const [stream, raw] of lines) {
    // Lines come with Docker's RFC 3339 time first (asked for always, see socketPath).
    const space = raw.indexOf(" ");
    const stamp = space > 0 ? raw.slice(0, space) : "";
    const text = space > 0 ? raw.slice(space + 1) : raw;
    const parsed = Date.parse(stamp);
    if (!Number.isNaN(parsed)) {
      const frac = (stamp.match(/\.(\d+)/) || ["", "0"])[1];
      lastStamp = Math.floor(parsed / 1000) + Number(`0.${frac}`);
    }
    const gutter = stream === "e" ? `${RED}▌${RESET}` : " ";
    const time = showStamps && stamp ? `${DIM}${stamp}${RESET} ` : "";
    out += `${gutter} ${time}${sanitize(text)}${RESET}\n`;
  }
  lineCount += lines.length;
  term.write(out);
  if (!follow) {
    newBelow += lines.length;
    notice.textContent = `Autoscroll paused: ${newBelow} new lines below.`;
    jump.hidden = false;
  }
  root.dataset.lines = String(lineCount);
}

function marker(text, colour) {
  term.write(`${colour}── ${text} ──${RESET}\n`);
}

term.onScroll(() => {
  if (atBottom()) {
    newBelow = 0;
    notice.textContent = "";
    jump.hidden = true;
  }
});
jump.addEventListener("click", () => term.scrollToBottom());

let socket = null;

function start() {
  if (socket) socket.close();
  term.reset();
  lastStamp = null;
  lineCount = 0;
  ended = false;
  socket = connect(socketPath, {
    status,
    onMessage(event) {
      const message = JSON.parse(event.data);
      if (message.type === "logs") {
        if (message.skipped) {
          marker(`${message.skipped} lines skipped: the view could not keep up`, YELLOW);
        }
        if (message.lines.length) writeLines(message.lines);
      } else if (message.type === "end") {
        ended = true;
        marker(message.reason, CYAN);
        root.dataset.ended = "1";
      } else if (message.type === "error") {
        ended = true;
        marker(message.message, RED);
      }
    },
    onClose() {
      if (!ended) return true; // dropped: reconnect and resume after the last line
      socket.close("Stream ended");
      return false;
    },
  });
}

form.addEventListener("change", (event) => {
  if (event.target === searchBox) return;
  start();
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  start();
});

const DECORATIONS = {
  matchBackground: "#5c4a00",
  activeMatchBackground: "#d29922",
  matchOverviewRuler: "#d29922",
  activeMatchColorOverviewRuler: "#ff9632",
};
searchBox.addEventListener("input", () => {
  if (searchBox.value) search.findNext(searchBox.value, { incremental: true, decorations: DECORATIONS });
  else search.clearDecorations();
});
root.querySelector("[data-search-next]").addEventListener("click", () => {
  search.findNext(searchBox.value, { decorations: DECORATIONS });
});
root.querySelector("[data-search-prev]").addEventListener("click", () => {
  search.findPrevious(searchBox.value, { decorations: DECORATIONS });
});
searchBox.addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    if (event.shiftKey) search.findPrevious(searchBox.value, { decorations: DECORATIONS });
    else search.findNext(searchBox.value, { decorations: DECORATIONS });
  }
});

start();
