// Log text for xterm.js. Log lines are untrusted: only colour codes (SGR) pass
// through; every other control character is shown as ^X.
export const RED = "\x1b[31m";
export const DIM = "\x1b[2m";
export const YELLOW = "\x1b[33m";
export const CYAN = "\x1b[36m";
export const RESET = "\x1b[0m";
const SGR_OR_CONTROL = /\x1b\[[0-9;]*m|[\x00-\x08\x0b-\x1f\x7f]/g;

export function sanitize(text) {
  return text.replace(SGR_OR_CONTROL, (m) => {
    if (m.length > 1) return m; // a colour code: kept
    if (m === "\r") return "";
    return `^${String.fromCharCode(m.charCodeAt(0) ^ 64)}`;
  });
}
