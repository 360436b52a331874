// A websocket that reconnects by itself with growing pauses, and says so on the page.
// Close codes 4401/4403/4404 (signed out, not allowed, gone) are final: no retry.

const FINAL = {
  4401: "Signed out: reload the page to log in again.",
  4403: "Not allowed.",
  4404: "This container no longer exists.",
};

export function wsUrl(path) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}

export function liveSocket({ path, onMessage, onOpen, onEnd, status, binary = false }) {
  let ws = null;
  let delay = 500;
  let timer = null;
  let stopped = false;
  let attempts = 0;

  function say(text, state) {
    if (!status) return;
    status.textContent = text;
    status.dataset.state = state;
  }

  function connect() {
    const target = typeof path === "function" ? path() : path;
    ws = new WebSocket(wsUrl(target));
    if (binary) ws.binaryType = "arraybuffer";
    say(attempts ? `Reconnecting (attempt ${attempts + 1})…` : "Connecting…", "connecting");
    ws.onopen = () => {
      delay = 500;
      attempts = 0;
      say("Live", "live");
      if (onOpen) onOpen(ws);
    };
    ws.onmessage = (event) => onMessage(event, ws);
    ws.onclose = (event) => {
      if (stopped) return;
      if (FINAL[event.code]) {
        say(FINAL[event.code], "down");
        return;
      }
      if (onEnd && onEnd(event) === false) return; // the page handles it (e.g. log ended)
      attempts += 1;
      const seconds = (delay / 1000).toFixed(delay < 1000 ? 1 : 0);
      say(`Disconnected: reconnecting in ${seconds} s…`, "down");
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }

  connect();
  return {
    send(data) {
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(data);
    },
    close() {
      stopped = true;
      clearTimeout(timer);
      if (ws) ws.close();
    },
    restart() {
      stopped = false;
      clearTimeout(timer);
      if (ws) {
        ws.onclose = null;
        ws.close();
      }
      delay = 500;
      attempts = 0;
      connect();
    },
  };
}
