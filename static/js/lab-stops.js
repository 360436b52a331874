// Counts down the stops of a student's lab containers in the banner of every page
// (<time data-countdown="SECONDS LEFT">, templates/classes_app/_lab_stops.html). htmx
// polls the banner itself and swaps in a new one; each new element counts from its own
// figure, taken against this browser's clock when first seen (no clock skew).
const deadlines = new WeakMap();

function clock(seconds) {
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function countDown() {
  const now = Date.now();
  for (const el of document.querySelectorAll("#lab-stops time[data-countdown]")) {
    if (!deadlines.has(el)) deadlines.set(el, now + Number(el.dataset.countdown) * 1000);
    const left = Math.max(0, Math.round((deadlines.get(el) - now) / 1000));
    el.textContent = left > 0 ? clock(left) : "now";
  }
}

countDown();
setInterval(countDown, 1000);
