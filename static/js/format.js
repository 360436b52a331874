// Numbers as people read them: 1.5 GiB, 320 KiB/s, 97.3 %. The one byte formatter
// of the pages (binary units, as `docker stats` and the memory limits use).

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function formatBytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  let value = Math.abs(n);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = value >= 100 || unit === 0 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

export function formatRate(n) {
  return `${formatBytes(n)}/s`;
}

export function formatPercent(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  return `${n.toFixed(n >= 100 ? 0 : 1)} %`;
}

// A tick of a percent axis: as many decimals as its step needs (0.05 % apart: 0.05, 0.10).
export function formatPercentTick(n, step) {
  const digits = Math.min(2, Math.max(0, -Math.floor(Math.log10(step || 1))));
  return `${n.toFixed(digits)} %`;
}
