// The read-only mirror of someone's terminal: xterm.js over /ws/sessions/{key}/watch/.
// Output arrives as binary frames. Keys go out only after "Take over" (an audited
// action the server grants); until then the server refuses them and the page
// says so. "Release" gives the keyboard back. The mirror never reopens by
// itself: a session that ended is gone.
import { connect } from "./socket.js";
import { openTerm } from "./xterm-view.js";

const root = document.getElementById("session-watch");
const status = root.querySelector("[data-status]");
const typistText = root.querySelector("[data-typist]");
const takeButton = root.querySelector("[data-take]");
const releaseButton = root.querySelector("[data-release]");
const me = root.dataset.me;

const { term } = openTerm(root, { fontSize: 15, scrollback: 5000, cursorBlink: false });

const encoder = new TextEncoder();
let typing = false;

function showState(message) {
  typing = message.typist !== null && message.typist === me;
  root.dataset.typing = typing ? "1" : "0";
  takeButton.hidden = typing;
  releaseButton.hidden = !typing;
  term.options.cursorBlink = typing;
  if (typing) typistText.textContent = "You are typing in this terminal.";
  else if (message.typist) typistText.textContent = `${message.typist} is typing.`;
  else typistText.textContent = "Read only.";
}

const socket = connect(`/ws/sessions/${root.dataset.key}/watch/`, {
  status,
  binary: true,
  reconnect: false,
  final: { 4404: "This terminal session has ended (or is not yours to watch)." },
  closedText: "The session has ended.",
  onOpen() {
    status.textContent = "Watching";
    if (root.dataset.takeover === "1") socket.send(JSON.stringify({ type: "takeover" }));
  },
  onMessage(event) {
    if (typeof event.data !== "string") {
      term.write(new Uint8Array(event.data));
      return;
    }
    const message = JSON.parse(event.data);
    if (message.type === "watchers") showState(message);
    else if (message.type === "refused" || message.type === "error") {
      typistText.textContent = message.message;
    } else if (message.type === "end") {
      term.write("\r\n\x1b[36m── the session ended ──\x1b[0m\r\n");
    }
  },
});

term.onData((data) => {
  // Sent even when read only: the server is the one that refuses (and says so).
  socket.send(encoder.encode(data));
});
takeButton.addEventListener("click", () => {
  socket.send(JSON.stringify({ type: "takeover" }));
  term.focus();
});
releaseButton.addEventListener("click", () => socket.send(JSON.stringify({ type: "release" })));
