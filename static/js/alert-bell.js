// The bell in the header: how many alerts this user may see are firing, kept live over
// /ws/alerts/. Each change also tells the page (a "dockdash:alerts" event on document),
// so a region marked data-live-alerts re-renders (static/js/live-list.js).
import { connect } from "./socket.js";

const bell = document.querySelector("[data-alert-bell]");
const count = bell?.querySelector("[data-alert-count]");
let first = true;

if (bell && count) {
  connect("/ws/alerts/", {
    onMessage(event) {
      const message = JSON.parse(event.data);
      if (message.type !== "alerts") return;
      const n = message.firing;
      count.textContent = String(n);
      count.hidden = n === 0;
      bell.classList.toggle("firing", n > 0);
      const words = `Alerts: ${n} firing`;
      bell.title = words;
      bell.setAttribute("aria-label", words);
      bell.dataset.live = "1";
      // The first count only says what the page was rendered with.
      if (!first) document.dispatchEvent(new CustomEvent("dockdash:alerts"));
      first = false;
    },
  });
}
