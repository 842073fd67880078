#!/usr/bin/env bash
# Install the Debian packages Qt needs, but only the missing ones.
#
#   .ci/install-sysdeps.sh          libraries for QT_QPA_PLATFORM=offscreen (tests, CI)
#   .ci/install-sysdeps.sh --x11    also Xvfb and the xcb libraries for a real window,
#                                   plus xwd/netpbm for whole-screen grabs
#
# The PySide6 wheels bundle Qt itself but not the system libraries it links against, and
# ship no fonts. When everything is already installed this script runs no apt-get at all.
# Why these packages: docs/decisions.md.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# binutils: PyInstaller needs objdump and strip to build the bundle that `make test` checks.
# fonts-noto-color-emoji: emoji in colour instead of boxes; build.spec copies it into the bundle.
offscreen_pkgs=(
    libgl1 libegl1 libfontconfig1 libxkbcommon0 libdbus-1-3 libglib2.0-0 fonts-dejavu-core
    fonts-noto-color-emoji binutils
)
x11_pkgs=(
    xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0
    libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libxkbcommon-x11-0
    libx11-xcb1 x11-apps netpbm
)

usage() {
    echo "usage: $0 [--x11]" >&2
    exit 2
}

wanted=("${offscreen_pkgs[@]}")
for arg in "$@"; do
    case "$arg" in
        --x11) wanted+=("${x11_pkgs[@]}") ;;
        -h | --help) usage ;;
        *) echo "install-sysdeps: unknown argument: $arg" >&2; usage ;;
    esac
done

if ! command -v dpkg >/dev/null 2>&1; then
    echo "install-sysdeps: no dpkg here (not Debian/Ubuntu); not checking system packages." >&2
    echo "install-sysdeps: Qt needs the equivalents of: ${wanted[*]}" >&2
    exit 0
fi

# Debian's own python3 ships without ensurepip, so `python3 -m venv` fails until
# python3-venv is installed; interpreters built elsewhere (pyenv, python.org) have it.
python=${PYTHON:-python3}
if command -v "$python" >/dev/null 2>&1 && ! "$python" -c 'import ensurepip' >/dev/null 2>&1; then
    wanted+=(python3-venv)
fi

installed() {
    # `dpkg -s` also succeeds for removed packages whose config files remain: check Status.
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

missing=()
for pkg in "${wanted[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "install-sysdeps: installing missing packages: ${missing[*]}"

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
elif command -v sudo >/dev/null 2>&1 && [ -t 0 ]; then
    as_root=(sudo)  # interactive: let sudo ask for the password
else
    {
        echo "install-sysdeps: these Debian packages are missing: ${missing[*]}"
        echo "install-sysdeps: they need root, and neither root nor a usable sudo is available."
        echo "install-sysdeps: install them as root, then run make again:"
        echo "    apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
    } >&2
    exit 1
fi

"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
