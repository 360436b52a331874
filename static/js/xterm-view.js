// An xterm.js view in `root`'s [data-term] box, fitted to it (again when the window
// resizes), with `root`'s A− / A+ text size buttons. The box reaches down to the bottom
// of the window (at least 20rem), so a terminal's newest line is on screen at 1024x768.
import { textSizeButtons } from "./text-size.js";

function fillWindow(box) {
  const rem = parseFloat(getComputedStyle(document.documentElement).fontSize);
  const room = window.innerHeight - box.getBoundingClientRect().top - window.scrollY - rem;
  box.style.height = `${Math.max(20 * rem, room)}px`;
}

export function openTerm(root, options) {
  const term = new Terminal(options);
  const fit = new FitAddon.FitAddon();
  const box = root.querySelector("[data-term]");
  term.loadAddon(fit);
  term.open(box);
  const refit = () => {
    fillWindow(box);
    fit.fit();
  };
  refit();
  textSizeButtons(term, fit, root);
  window.addEventListener("resize", refit);
  return { term, fit, refit };
}
