// The Terminal tab: xterm.js over /ws/containers/{id}/exec/ (a Docker exec with a
// TTY). Keystrokes go out as binary frames, output comes back as binary frames,
// a resize as a small JSON text frame. Closing the page ends the shell.
// A dropped connection does not silently start a new shell: the page says so and
// offers to open one.
import { connect } from "./socket.js";
import { openTerm } from "./xterm-view.js";

const root = document.getElementById("container-terminal");
const containerId = root.dataset.containerId;
const status = root.querySelector("[data-status]");
const shellSelect = root.querySelector("[data-shell]");
const connectButton = root.querySelector("[data-connect]");
const watchedBanner = root.querySelector("[data-watched]");

const { term, refit } = openTerm(root, { cursorBlink: true, fontSize: 15, scrollback: 5000 });

let socket = null;
const encoder = new TextEncoder();

// Who watches this shell (an instructor over the shoulder), and who took over to type.
function showWatchers({ watchers, typist }) {
  watchedBanner.hidden = watchers.length === 0;
  const who = watchers.join(", ");
  watchedBanner.textContent = typist
    ? `${typist} is typing in this terminal (watching: ${who}).`
    : `Watched by ${who}: they see what this terminal shows.`;
}

function sendResize() {
  if (socket) socket.send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
}

function openShell() {
  if (socket) socket.close();
  term.reset();
  watchedBanner.hidden = true;
  refit();
  const query = new URLSearchParams({ shell: shellSelect.value, cols: term.cols, rows: term.rows });
  let refusal = "";
  socket = connect(`/ws/containers/${containerId}/exec/?${query}`, {
    status,
    binary: true,
    reconnect: false,
    final: { 4401: "Signed out: reload the page.", 4403: "Your role may not open a terminal here." },
    closedText: "Disconnected: press Connect for a new shell.",
    onOpen() {
      status.textContent = `Connected: ${shellSelect.value}`;
      term.focus();
      sendResize();
    },
    onMessage(event) {
      if (typeof event.data !== "string") {
        term.write(new Uint8Array(event.data));
        return;
      }
      const message = JSON.parse(event.data);
      if (message.type === "watchers") {
        showWatchers(message);
      } else if (message.type === "exit") {
        term.write(`\r\n\x1b[36m── the shell exited (code ${message.code}) ──\x1b[0m\r\n`);
      } else if (message.type === "error") {
        refusal = message.message;
        term.write(`\r\n\x1b[31m${message.message.replace(/[\x00-\x1f]/g, " ")}\x1b[0m\r\n`);
      }
    },
    onClose(event) {
      connectButton.textContent = "Connect";
      // A refusal with a reason (the shared-host policy) is not about the role: say so.
      if (!refusal || event.code !== 4403) return true;
      status.textContent = "Refused: the reason is in the terminal below.";
      status.dataset.state = "down";
      return false;
    },
  });
  connectButton.textContent = "Reconnect";
}

term.onData((data) => {
  if (socket) socket.send(encoder.encode(data));
});
term.onResize(sendResize);
connectButton.addEventListener("click", openShell);
shellSelect.addEventListener("change", openShell);

openShell();
