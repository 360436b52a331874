// Usage bars: the server writes the percentage into data-percent, this sets the width
// (a style="" attribute in the page would be inline style; the CSSOM is not).
function fill(root) {
  for (const span of root.querySelectorAll(".bar > span[data-percent]")) {
    const pct = Math.max(0, Math.min(100, Number(span.dataset.percent) || 0));
    span.style.width = `${pct}%`;
  }
}

fill(document);
document.addEventListener("htmx:afterSwap", (event) => fill(event.target));
