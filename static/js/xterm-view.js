// An xterm.js view in `root`'s [data-term] box, fitted to it (again when the window
// resizes), with `root`'s A− / A+ text size buttons.
import { textSizeButtons } from "./text-size.js";

export function openTerm(root, options) {
  const term = new Terminal(options);
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(root.querySelector("[data-term]"));
  fit.fit();
  textSizeButtons(term, fit, root);
  window.addEventListener("resize", () => fit.fit());
  return { term, fit };
}
