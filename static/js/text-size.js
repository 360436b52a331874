// Text size of a log or terminal view: the A− / A+ buttons of `root`, remembered in this
// browser for every such view (a projector wants larger text than a laptop).
const KEY = "dockdash.terminalFontSize";
const MIN = 10;
const MAX = 32;

export function textSizeButtons(term, fit, root) {
  const apply = (size) => {
    term.options.fontSize = Math.min(MAX, Math.max(MIN, size));
    fit.fit();
  };
  const saved = Number(localStorage.getItem(KEY));
  if (saved) apply(saved);
  for (const button of root.querySelectorAll("[data-text-size]")) {
    button.addEventListener("click", () => {
      apply(term.options.fontSize + Number(button.dataset.textSize));
      localStorage.setItem(KEY, String(term.options.fontSize));
    });
  }
}
