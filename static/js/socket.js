// The one websocket of every live widget: it reconnects by itself with growing
// pauses and says its state on the page (the status element's text and its
// data-state: connecting, live, down, ended). Close codes 4401/4403/4404
// (signed out, not allowed, gone) are final: no retry.

const FINAL = {
  4401: "Signed out: reload the page to log in again.",
  4403: "Not allowed.",
  4404: "This container no longer exists.",
};
const FIRST_DELAY = 500;
const MAX_DELAY = 15000;

function wsUrl(path) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}

// path: a string, or a function asked again before each attempt (to resume).
// onClose(event) returning false: the page has handled the end (no retry, no text).
// reconnect: false for a socket that must not reopen by itself (a shell).
export function connect(
  path,
  {
    onMessage,
    onOpen,
    onClose,
    status = null,
    binary = false,
    reconnect = true,
    final = {},
    closedText = "Disconnected.",
  } = {},
) {
  const finalText = { ...FINAL, ...final };
  let ws = null;
  let delay = FIRST_DELAY;
  let timer = null;
  let stopped = false;
  let attempts = 0;

  function say(text, state) {
    if (!status) return;
    status.textContent = text;
    status.dataset.state = state;
  }

  function open() {
    ws = new WebSocket(wsUrl(typeof path === "function" ? path() : path));
    if (binary) ws.binaryType = "arraybuffer";
    say(attempts ? `Reconnecting (attempt ${attempts + 1})…` : "Connecting…", "connecting");
    ws.onopen = () => {
      delay = FIRST_DELAY;
      attempts = 0;
      say("Live", "live");
      if (onOpen) onOpen();
    };
    ws.onmessage = (event) => onMessage(event);
    ws.onclose = (event) => {
      if (stopped) return;
      if (onClose && onClose(event) === false) return;
      if (finalText[event.code]) {
        say(finalText[event.code], "down");
        return;
      }
      if (!reconnect) {
        say(closedText, "down");
        return;
      }
      attempts += 1;
      const seconds = (delay / 1000).toFixed(delay < 1000 ? 1 : 0);
      say(`Disconnected: reconnecting in ${seconds} s…`, "down");
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, MAX_DELAY);
    };
  }

  open();
  return {
    send(data) {
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(data);
    },
    // Ends the socket for good; `text` (may be "") replaces the status.
    close(text) {
      stopped = true;
      clearTimeout(timer);
      if (ws) ws.close();
      if (text !== undefined) say(text, "ended");
    },
  };
}
