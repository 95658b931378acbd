#!/usr/bin/env bash
# Installs what Waymark needs from Debian's packages when it is missing: libpq's headers (the
# CLibPQ target), the PostgreSQL server binaries (initdb, pg_ctl: the private local server) and
# pkg-config. Sourced by the demo and test scripts.
set -euo pipefail

missing=()
pkg-config --exists libpq 2>/dev/null || missing+=(libpq-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1 && [ -z "${WAYMARK_PG_BIN:-}" ]; then
    missing+=(postgresql)
fi
if [ "$(id -u)" = 0 ] && ! getent passwd postgres >/dev/null; then
    # As root, the private server runs as the postgres system user, which the package creates.
    missing+=(postgresql)
fi

# Installs Debian packages by name (with sudo unless root).
install_debian_packages() {
    echo "installing missing packages: $*" >&2
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

if [ ${#missing[@]} -gt 0 ]; then
    install_debian_packages "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "swift is not on PATH: install the Swift 6 toolchain first" >&2
    exit 1
fi
