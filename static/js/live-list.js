// Live pages: one websocket to /ws/events/; an engine event of a kind this page shows
// re-renders the page's live region from the server (same template, same filters),
// keeping the user's row selection; one marked data-live-alerts also when alerts change.
// Also: select-all and confirmations.
import { connect } from "./socket.js";

const live = [...document.querySelectorAll("[data-live-url]")];
const status = document.createElement("span");
status.className = "live-status";
status.setAttribute("aria-live", "polite");

function region(el) {
  return el.querySelector("#live-rows") || el;
}

async function refresh(el) {
  const target = region(el);
  const checked = new Set(
    [...target.querySelectorAll("input[name=ids]:checked")].map((box) => box.value),
  );
  const response = await fetch(el.dataset.liveUrl, {
    headers: { "X-Requested-With": "fetch" },
    credentials: "same-origin",
  });
  if (!el.dataset.liveUrl) return; // another refresh, answered first, found it gone
  if (response.status === 404) {
    el.insertAdjacentHTML(
      "beforebegin",
      '<div class="alert error gone" role="alert">This object no longer exists on the engine.</div>',
    );
    delete el.dataset.liveUrl;
    return;
  }
  if (!response.ok) return;
  // Keep what the user was doing in the region: open confirmations, typed text.
  const opened = [...target.querySelectorAll("details")].map((d) => d.open);
  const typed = [...target.querySelectorAll("input[type=text]")]
    .filter((input) => input.value !== input.defaultValue)
    .map((input) => [input.form?.action, input.name, input.value]);
  target.innerHTML = await response.text();
  target.querySelectorAll("details").forEach((d, i) => { if (opened[i]) d.open = true; });
  for (const [action, name, value] of typed) {
    for (const input of target.querySelectorAll(`input[name="${name}"]`)) {
      if (input.form?.action === action) input.value = value;
    }
  }
  // The page header (outside the live region) shows the state too.
  const state = target.querySelector('[data-field="state"]');
  const header = document.querySelector('[data-field="container.state"]');
  if (state && header) {
    header.textContent = state.textContent;
    header.className = `badge ${state.textContent.trim()}`;
  }
  for (const box of target.querySelectorAll("input[name=ids]")) box.checked = checked.has(box.value);
  updateCount();
}

const pending = new Map();
function schedule(el) {
  // Events come in bursts (create, attach, start...): one re-render per burst.
  if (pending.has(el)) return;
  pending.set(el, setTimeout(() => { pending.delete(el); refresh(el); }, 120));
}

function wants(el, event) {
  if (!el.dataset.liveUrl) return false;
  const types = (el.dataset.liveTypes || "").split(/\s+/);
  if (!types.includes(event.kind)) return false;
  return !el.dataset.liveId || el.dataset.liveId === event.id;
}

function listen() {
  let opened = false;
  connect("/ws/events/", {
    status,
    onOpen() {
      // Back after a drop (a server restart): what changed meanwhile was not heard.
      if (opened) for (const el of live) schedule(el);
      opened = true;
      document.body.dataset.eventsLive = "1";
    },
    onMessage(message) {
      const frame = JSON.parse(message.data);
      if (frame.type !== "events") return;
      for (const event of frame.events) {
        for (const el of live) if (wants(el, event)) schedule(el);
      }
    },
    onClose() {
      delete document.body.dataset.eventsLive;
      return true;
    },
  });
}

function updateCount() {
  const counter = document.getElementById("selected-count");
  if (counter) counter.textContent = document.querySelectorAll("input[name=ids]:checked").length;
}

document.addEventListener("change", (e) => {
  if (e.target.id === "select-all") {
    for (const box of document.querySelectorAll("input[name=ids]")) box.checked = e.target.checked;
  }
  updateCount();
});

document.addEventListener("click", (e) => {
  const button = e.target.closest("[data-confirm]");
  if (button && !confirm(button.dataset.confirm)) e.preventDefault();
});

// Regions marked data-live-alerts also follow the alerts (the bell says when they change).
document.addEventListener("dockdash:alerts", () => {
  for (const el of live) if ("liveAlerts" in el.dataset && el.dataset.liveUrl) schedule(el);
});

if (live.length) {
  document.querySelector(".page-head h1")?.append(" ", status);
  listen();
}
