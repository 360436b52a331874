// A student's lab logs merged: xterm.js over /ws/classes/{slug}/students/{name}/logs/.
// Each line comes as [time, container index, "o"/"e", text], in time order, and is
// shown with its container's name in that container's colour.
import { CYAN, DIM, RED, RESET, YELLOW, sanitize } from "./log-text.js";
import { connect } from "./socket.js";
import { openTerm } from "./xterm-view.js";

const root = document.getElementById("merged-logs");
const status = root.querySelector("[data-status]");
const legend = root.querySelector("[data-legend]");
// Bright colours that read on the dark terminal; red is kept for stderr.
const COLOURS = ["\x1b[32m", "\x1b[34m", "\x1b[35m", "\x1b[33m", "\x1b[36m", "\x1b[92m", "\x1b[94m"];
const CSS_COLOURS = ["#3fb950", "#58a6ff", "#d2a8ff", "#e3b341", "#39c5cf", "#7ee787", "#79c0ff"];

const { term } = openTerm(root, {
  convertEol: true,
  disableStdin: true,
  scrollback: 100000,
  fontSize: 14,
  theme: { background: "#0f1317", foreground: "#e7ebf0" },
});

let names = [];
let width = 0;
let lineCount = 0;

function showLegend(containers) {
  names = containers.map((c) => c.name);
  width = Math.max(0, ...names.map((n) => n.length));
  legend.replaceChildren(
    ...names.map((name, i) => {
      const tag = document.createElement("code");
      tag.textContent = name;
      tag.style.color = CSS_COLOURS[i % CSS_COLOURS.length];
      tag.style.marginRight = "0.6em";
      return tag;
    }),
  );
}

function writeLines(lines) {
  let out = "";
  for (const [time, index, stream, text] of lines) {
    const colour = COLOURS[index % COLOURS.length];
    const gutter = stream === "e" ? `${RED}▌${RESET}` : " ";
    const name = (names[index] || "?").padEnd(width);
    out += `${gutter}${DIM}${time.slice(11, 23)}${RESET} ${colour}${name}${RESET} ${sanitize(text)}${RESET}\n`;
  }
  lineCount += lines.length;
  term.write(out);
  root.dataset.lines = String(lineCount);
}

connect(`${root.dataset.path}?tail=100`, {
  status,
  reconnect: false,
  onOpen() {
    term.reset();
    lineCount = 0;
  },
  onMessage(event) {
    const message = JSON.parse(event.data);
    if (message.type === "containers") showLegend(message.containers);
    else if (message.type === "logs") {
      if (message.skipped) term.write(`${YELLOW}── ${message.skipped} lines skipped ──${RESET}\n`);
      if (message.lines.length) writeLines(message.lines);
    } else if (message.type === "end") {
      term.write(`${CYAN}── ${names[message.source] || "?"}: ${sanitize(message.reason)} ──${RESET}\n`);
    } else if (message.type === "error") {
      term.write(`${RED}${sanitize(message.message)}${RESET}\n`);
    }
  },
});
