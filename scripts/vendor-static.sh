#!/usr/bin/env bash
# Refresh the front-end libraries under static/vendor/ from the npm registry.
# Each lands in static/vendor/<name>-<version>/ with its licence; no CDN, no build step.
# Usage: scripts/vendor-static.sh   (versions below; bump them here and rerun)
set -euo pipefail
cd "$(dirname "$0")/.."

# npm package@version  files to keep (relative to the package folder)
PACKAGES=(
  "htmx.org@2.0.4 dist/htmx.min.js"
  "uplot@1.6.31 dist/uPlot.iife.min.js dist/uPlot.min.css"
  "@xterm/xterm@5.5.0 lib/xterm.js css/xterm.css"
  "@xterm/addon-fit@0.10.0 lib/addon-fit.js"
  "@xterm/addon-search@0.15.0 lib/addon-search.js"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf static/vendor
mkdir -p static/vendor
for entry in "${PACKAGES[@]}"; do
  read -r spec files <<<"$entry"
  name=${spec%@*}
  version=${spec##*@}
  short=${name##*/}
  (cd "$work" && npm pack --silent "$spec" >/dev/null)
  tarball=$(ls "$work"/*.tgz)
  mkdir -p "$work/unpacked"
  tar -xzf "$tarball" -C "$work/unpacked"
  dest="static/vendor/$short-$version"
  mkdir -p "$dest"
  for f in $files; do cp "$work/unpacked/package/$f" "$dest/"; done
  cp "$work/unpacked/package/"LICEN[CS]E* "$dest/" 2>/dev/null || true
  printf '%s %s from the npm registry\n' "$name" "$version" >"$dest/VERSION"
  rm -rf "$work/unpacked" "$tarball"
  echo "vendored $name $version -> $dest"
done
