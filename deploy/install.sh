#!/usr/bin/env bash
# Build and install pyengine on an EC2 instance (Amazon Linux 2023 or Ubuntu 22.04/24.04).
# Idempotent: run it again after `git pull` to rebuild; existing configuration and secrets are
# never overwritten, units are only reloaded when they changed, nothing is started unless
# --enable is given (see the testnet-first checklist in deploy/README.md).
#
#   sudo deploy/install.sh [--enable] [--collector N] [--extras bridge] [--no-chrony]
#                          [--no-packages] [--skip-build] [--destdir DIR]
#
# --destdir DIR stages everything below DIR instead of / (no packages, users or systemctl):
# used by the test suite, and handy to inspect what would be installed.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DESTDIR=""
ENABLE=0
COLLECTORS=0
EXTRAS=""
CHRONY=1
PACKAGES=1
BUILD=1
SVC_USER=pyengine

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --enable) ENABLE=1 ;;
        --collector) COLLECTORS="${2:?--collector needs a count}"; shift ;;
        --extras) EXTRAS="${2:?--extras needs a name, e.g. bridge}"; shift ;;
        --no-chrony) CHRONY=0 ;;
        --no-packages) PACKAGES=0 ;;
        --skip-build) BUILD=0 ;;
        --destdir) DESTDIR="$(realpath -m "${2:?--destdir needs a directory}")"; shift ;;
        -h|--help) usage 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage 2 ;;
    esac
    shift
done

PREFIX="$DESTDIR/opt/pyengine"
ETC="$DESTDIR/etc/pyengine"
UNITS="$DESTDIR/etc/systemd/system"
STATE="$DESTDIR/var/lib/pyengine"
CHANGED=0

log() { printf 'install.sh: %s\n' "$*"; }
staged() { [ -n "$DESTDIR" ]; }

if ! staged && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (sudo), or use --destdir to stage" >&2
    exit 2
fi

install_packages() {
    # Build tools, a Python >= 3.11 with headers, chrony, rsync.
    if command -v dnf >/dev/null 2>&1; then
        dnf install -y -q gcc make git rsync chrony python3.11 python3.11-devel python3.11-pip
        PYTHON=python3.11
    elif command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        local py=python3
        if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            py=python3.11
        fi
        apt-get install -y -q gcc make git rsync chrony "$py" "$py-dev" "$py-venv"
        PYTHON="$py"
    else
        echo "install.sh: neither dnf nor apt-get found; install gcc and Python 3.11+ yourself" >&2
        exit 2
    fi
}

pick_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            PYTHON="$candidate"
            return
        fi
    done
    echo "install.sh: Python 3.11 or newer is required" >&2
    exit 2
}

ensure_user() {
    staged && return
    if ! id -u "$SVC_USER" >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/pyengine --no-create-home \
                --shell /usr/sbin/nologin "$SVC_USER"
        log "created system user $SVC_USER"
    fi
}

sync_source() {
    mkdir -p "$PREFIX"
    # The build happens in place: keep .venv and build artefacts between runs.
    rsync -a --delete --exclude .git --exclude .venv --exclude build --exclude '*.so' \
          --exclude __pycache__ --exclude .pytest_cache --exclude .hypothesis --exclude node_modules \
          --exclude /var --exclude /out "$SRC/" "$PREFIX/"
}

build() {
    if [ ! -x "$PREFIX/.venv/bin/python" ]; then
        "$PYTHON" -m venv "$PREFIX/.venv"
        log "created $PREFIX/.venv with $("$PYTHON" --version)"
    fi
    "$PREFIX/.venv/bin/python" -m pip install -q --upgrade pip wheel
    local target="$PREFIX"
    if [ -n "$EXTRAS" ]; then target="${PREFIX}[${EXTRAS}]"; fi
    # Not editable: the C library (csrc/) is compiled into site-packages by cffi.
    "$PREFIX/.venv/bin/python" -m pip install -q --upgrade "$target"
    "$PREFIX/.venv/bin/python" -c 'import pyengine._core' >/dev/null
    log "built $("$PREFIX/.venv/bin/pyengine" --version)"
}

install_if_changed() {   # install_if_changed SRC DEST MODE
    if [ ! -f "$2" ] || ! cmp -s "$1" "$2"; then
        install -D -m "$3" "$1" "$2"
        CHANGED=1
        log "installed $2"
    fi
}

install_once() {         # never overwrite what the operator edited
    if [ ! -e "$2" ]; then
        install -D -m "$3" "$1" "$2"
        staged || chown "root:$SVC_USER" "$2"
        log "installed $2 (edit it; later runs leave it alone)"
    fi
}

configure() {
    mkdir -p "$ETC" "$STATE"
    staged || chown "$SVC_USER:$SVC_USER" "$STATE"
    chmod 0750 "$STATE"
    install_once "$SRC/deploy/pyengine.env.example" "$ETC/pyengine.env" 0640
    if [ -f "$SRC/deploy/pyengine.example.toml" ] && [ ! -e "$ETC/pyengine.toml" ]; then
        # strategy paths in the example are relative to the repository's deploy/ directory
        sed 's#"\.\./dsl/#"/opt/pyengine/dsl/#' "$SRC/deploy/pyengine.example.toml" \
            > "$ETC/pyengine.toml.new"
        install_once "$ETC/pyengine.toml.new" "$ETC/pyengine.toml" 0640
        rm -f "$ETC/pyengine.toml.new"
    fi
    if [ "$COLLECTORS" -gt 0 ]; then
        install_once "$SRC/deploy/collect.env.example" "$ETC/collect.env" 0640
    fi
    for unit in "$SRC"/deploy/systemd/*.service; do
        install_if_changed "$unit" "$UNITS/$(basename "$unit")" 0644
    done
}

configure_chrony() {
    # Amazon Time Sync Service: link-local NTP on every Nitro instance (also over IPv6).
    local conf
    for conf in /etc/chrony.conf /etc/chrony/chrony.conf; do
        [ -f "$conf" ] || continue
        if ! grep -q '169\.254\.169\.123' "$conf"; then
            printf '\n# Amazon Time Sync Service (added by pyengine deploy/install.sh)\n%s\n' \
                'server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4' >> "$conf"
            systemctl restart chronyd 2>/dev/null || systemctl restart chrony
            log "chrony: added the Amazon Time Sync Service to $conf"
        fi
        systemctl enable --now chronyd 2>/dev/null || systemctl enable --now chrony
        return
    done
    log "chrony configuration not found; set up time sync before trading"
}

activate() {
    staged && return
    if [ "$CHANGED" -eq 1 ]; then
        systemctl daemon-reload
    fi
    systemd-analyze verify /etc/systemd/system/pyengine.service
    if [ "$ENABLE" -eq 1 ]; then
        systemctl enable pyengine.service
        systemctl restart pyengine.service
        log "pyengine.service enabled and (re)started: journalctl -u pyengine -f"
    else
        log "not started; when the checklist is done: systemctl enable --now pyengine"
    fi
    local i
    for ((i = 1; i <= COLLECTORS; i++)); do
        systemctl enable --now "pyengine-collect@$i.service"
    done
}

if [ "$PACKAGES" -eq 1 ] && ! staged; then
    install_packages
fi
ensure_user
sync_source
if [ "$BUILD" -eq 1 ]; then
    pick_python
    build
fi
configure
if [ "$CHRONY" -eq 1 ] && ! staged; then
    configure_chrony
fi
activate
log "done"
