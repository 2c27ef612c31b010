#!/usr/bin/env bash
# Renders a report.html in headless Chromium (Debian package chromium) to a PNG, and prints it to a
# PDF, as a check that the self-contained report renders and prints offline. Usage:
#   scripts/screenshot.sh [REPORT_HTML] [OUT_PNG]      (defaults: out/demo/report.html docs/report.png)
# Network is off for Chromium (no fonts, scripts or images are fetched), so what renders is what
# the file holds. Fails when Chromium is missing, the PNG or PDF is not written, or the PNG is
# nearly empty.
set -euo pipefail
cd "$(dirname "$0")/.."
html="${1:-out/demo/report.html}"
png="${2:-docs/report.png}"
browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
  echo "screenshot: Chromium is needed (sudo apt-get install chromium)" >&2
  exit 1
fi
if [ ! -s "$html" ]; then
  echo "screenshot: $html does not exist (make demo writes out/demo/report.html)" >&2
  exit 1
fi
profile="$(mktemp -d)"
pdf="$(mktemp --suffix=.pdf)"
trap 'rm -rf "$profile" "$pdf"' EXIT
url="file://$(realpath "$html")"
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
  --disable-sync --no-first-run --user-data-dir="$profile" --hide-scrollbars --force-device-scale-factor=1)
mkdir -p "$(dirname "$png")"
timeout 120 "$browser" "${flags[@]}" --window-size=1280,2200 --screenshot="$png" "$url" >/dev/null 2>&1
timeout 120 "$browser" "${flags[@]}" --no-pdf-header-footer --print-to-pdf="$pdf" "$url" >/dev/null 2>&1
size=$(stat -c %s "$png" 2>/dev/null || echo 0)
pages=$(grep -ac '/Type /Page$\|/Type /Page[^s]' "$pdf" 2>/dev/null || echo 0)
if [ "$size" -lt 50000 ]; then
  echo "screenshot: $png is $size bytes: the page did not render" >&2
  exit 1
fi
if [ ! -s "$pdf" ]; then
  echo "screenshot: printing to PDF failed" >&2
  exit 1
fi
echo "screenshot: $png ($size bytes); printed to a $(stat -c %s "$pdf")-byte PDF of $pages pages"
