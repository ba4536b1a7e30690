#!/usr/bin/env bash
# Installs what Madoguchi needs to build, run and test on Debian 12 and
# skips what is already there. Called by `make run`, `make test` and
# .ci/run. Uses sudo for apt-get when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages. To build and run: GTK/WebKitGTK 4.1 for Wails, PC/SC
# (pcscd, CCID readers) for the card reader, cgo, fonts for every screen
# language (IPAex for Japanese and the receipts; Noto CJK for Korean and
# Chinese, Noto core for Thai and Nepali's Devanagari: without them those
# languages show as empty boxes, `madoguchi selftest` checks).
PKGS=(
  gcc pkg-config libgtk-3-dev libwebkit2gtk-4.1-dev libpcsclite-dev
  pcscd libccid fonts-ipaexfont-gothic fonts-noto-cjk fonts-noto-core
  ca-certificates curl unzip git libopenjp2-7-dev
)
# With "test": what the tests drive — Xvfb, ImageMagick and xdotool (mouse
# and keyboard) for the window,
# Chromium for the browser face, the vsmartcard vpcd reader for the virtual
# card (it listens on every interface: never install it on a real counter
# or kiosk, which is why `make run` does not), OpenSC as third-party card
# software. For receipts: a real cupsd with Debian's cups-pdf printer
# (the tests start their own), poppler-utils (pdftotext, pdffonts,
# pdftoppm) and zbar-tools (zbarimg reads the QR code back). Madoguchi
# itself speaks IPP and needs none of them to run: a counter needs only a
# CUPS server it can reach, on the PC or on a print server.
if [ "${1:-}" = "test" ]; then
  PKGS+=(xvfb xauth imagemagick xdotool chromium vsmartcard-vpcd opensc)
  PKGS+=(cups cups-client cups-bsd printer-driver-cups-pdf poppler-utils zbar-tools)
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node.js: Vite 7 needs 20.19 or newer.
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' || {
  echo "deps: Node.js $(node --version) is too old; Vite needs 20.19 or newer (https://nodejs.org)" >&2
  exit 1
}

# Go: the version go.mod names. When missing or too old, fetch that
# toolchain from the Go module proxy (the same source `GOTOOLCHAIN` uses)
# into ~/.local/go-<version>, and tell the caller to put it on PATH.
want=$(sed -n 's/^go \([0-9.]*\)$/\1/p' go.mod)
have=$(go env GOVERSION 2>/dev/null | sed 's/^go//' || true)
if [ -z "$have" ] || [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -1)" != "$want" ]; then
  dir="$HOME/.local/go-$want"
  if [ ! -x "$dir/bin/go" ]; then
    echo "deps: fetching Go $want"
    tmp=$(mktemp -d)
    curl -fsSL -o "$tmp/go.zip" "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go$want.linux-$(dpkg --print-architecture).zip"
    unzip -q "$tmp/go.zip" -d "$tmp"
    mkdir -p "$(dirname "$dir")"
    mv "$tmp/golang.org/toolchain@v0.0.1-go$want.linux-$(dpkg --print-architecture)" "$dir"
    chmod +x "$dir/bin/"* "$dir/pkg/tool/"*/* 2>/dev/null || true
    rm -rf "$tmp"
  fi
  echo "deps: Go $want is in $dir/bin; the Makefile puts it on PATH"
fi

# npm packages, from the lockfile. Some registries lack rollup's optional
# platform packages, which makes `npm ci` fail: fall back to `npm install`.
if [ ! -d frontend/node_modules ] || [ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]; then
  (cd frontend && { npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error; })
fi

# Go modules.
go mod download 2>/dev/null || "$HOME/.local/go-$want/bin/go" mod download
