#!/usr/bin/env bash
# Set up everything `make demo` / `make test` need on a Debian machine.  Idempotent: a second
# run changes nothing and takes well under a second.
#
#   scripts/bootstrap.sh                  .venv with the project installed + a mosquitto binary
#   scripts/bootstrap.sh --with-postgres  ... and PostgreSQL running and reachable on
#                                         127.0.0.1:5432 as user postgres without a password
#   scripts/bootstrap.sh --with-browser   ... and Debian's chromium (the browser tests drive it
#                                         through Playwright with executable_path)
#   scripts/bootstrap.sh --reinstall      pip install again even if the stamp is fresh
#
# Works as root or as a user with sudo.  Without either, it prints the exact command to run
# as root and exits non-zero (only when that step is strictly required).
#
# The project is pip-installed (editable, with the dev extra) only when pyproject.toml is newer
# than the stamp file .venv/.installed (or the stamp / the `tessera` script is missing).
# Environment: PYTHON (interpreter used to create .venv, default python3);
# TESSERA_TEST_DATABASE_URL set => --with-postgres leaves PostgreSQL to you.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

WITH_POSTGRES=0
WITH_BROWSER=0
REINSTALL=0
for arg in "$@"; do
    case "$arg" in
        --with-postgres) WITH_POSTGRES=1 ;;
        --with-browser) WITH_BROWSER=1 ;;
        --reinstall) REINSTALL=1 ;;
        -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bootstrap: unknown option: $arg (try --help)" >&2; exit 2 ;;
    esac
done

export DEBIAN_FRONTEND=noninteractive
VENV=.venv
STAMP="$VENV/.installed"
PYTHON=${PYTHON:-python3}
PG_HOST=127.0.0.1
PG_PORT=5432
APT_UPDATED=0

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }
# Root, or sudo that can work here (it may prompt on a terminal; without one it must not need to).
can_root() {
    is_root && return 0
    command -v sudo >/dev/null 2>&1 || return 1
    [ -t 0 ] || sudo -n true >/dev/null 2>&1
}

# Run a command as root (directly, or through sudo; sudo never prompts without a terminal).
as_root() {
    if is_root; then
        "$@"
    elif [ -t 0 ]; then
        sudo -- "$@"
    else
        sudo -n -- "$@"
    fi
}

# Run a command as the postgres OS user (for peer authentication over the local socket).
as_postgres() {
    if is_root; then
        if command -v runuser >/dev/null 2>&1; then
            (cd / && runuser -u postgres -- "$@")
        else
            local cmd
            printf -v cmd '%q ' "$@"
            (cd / && su postgres -s /bin/sh -c "$cmd")
        fi
    elif [ -t 0 ]; then
        (cd / && sudo -u postgres -- "$@")
    else
        (cd / && sudo -n -u postgres -- "$@")
    fi
}

# apt-get install the named Debian packages ("apt-get update" once per run, only when needed).
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        say "apt-get not found: install these packages with your package manager: $*"
        return 1
    fi
    if ! can_root; then
        say "missing Debian packages: $*"
        say "run as root:  apt-get update && apt-get install -y $*"
        return 1
    fi
    say "installing Debian packages: $*"
    if [ "$APT_UPDATED" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null || return 1
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >/dev/null || return 1
}

# --------------------------------------------------------------------------- Python + .venv

ensure_venv() {
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        apt_install python3 python3-venv || exit 1
    fi
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        die "$PYTHON is $("$PYTHON" -V 2>&1); Tessera needs Python 3.11 or newer (set PYTHON=...)"
    fi
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
        return 0
    fi
    if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        # Debian splits venv/ensurepip out of the interpreter package.
        local ver
        ver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
        apt_install python3-venv || exit 1
        if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
            apt_install "python${ver}-venv" || exit 1
        fi
    fi
    if [ -e "$VENV" ]; then
        say "$VENV is broken (no working python/pip); recreating it"
        rm -rf "$VENV"
    fi
    say "creating $VENV with $("$PYTHON" -V 2>&1)"
    "$PYTHON" -m venv "$VENV"
}

ensure_installed() {
    if [ "$REINSTALL" -eq 0 ] && [ -e "$STAMP" ] && [ ! pyproject.toml -nt "$STAMP" ] \
            && [ -x "$VENV/bin/tessera" ]; then
        return 0
    fi
    say "pip install -e '.[dev]' into $VENV"
    PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]'
    touch "$STAMP"
}

# --------------------------------------------------------------------------- Mosquitto

have_mosquitto() {
    command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] \
        || [ -x /usr/local/sbin/mosquitto ]
}

ensure_mosquitto() {
    have_mosquitto && return 0
    apt_install mosquitto || exit 1   # Debian puts the binary in /usr/sbin
    have_mosquitto || die "mosquitto was installed but no mosquitto binary was found"
}

# --------------------------------------------------------------------------- PostgreSQL

pg_query_ok() {
    command -v psql >/dev/null 2>&1 \
        && psql -w -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atqc 'select 1' \
            >/dev/null 2>&1
}

pg_accepting() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$PG_HOST" -p "$PG_PORT" >/dev/null 2>&1
    else
        (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null
    fi
}

wait_for() {  # wait_for SECONDS COMMAND...
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

# Prints "version name status" of the Debian cluster configured for port 5432, if any.
pg_cluster_5432() {
    pg_lsclusters --no-header 2>/dev/null | awk -v port="$PG_PORT" '$3 == port { print $1, $2, $4; exit }'
}

pg_root_hint() {
    say "then run this script again, or point the tests elsewhere with"
    say "  export TESSERA_TEST_DATABASE_URL=postgresql://USER:PASSWORD@HOST:PORT/postgres"
}

ensure_postgres() {
    if [ -n "${TESSERA_TEST_DATABASE_URL:-}" ]; then
        say "TESSERA_TEST_DATABASE_URL is set; not managing a local PostgreSQL"
        return 0
    fi
    pg_query_ok && return 0

    if ! command -v pg_lsclusters >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
        apt_install postgresql || exit 1
    fi

    local cluster ver name status
    cluster=$(pg_cluster_5432)
    if [ -z "$cluster" ] && [ -z "$(pg_lsclusters --no-header 2>/dev/null)" ]; then
        ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null \
              | sort -V | tail -n 1)
        [ -n "$ver" ] || die "PostgreSQL is installed but no server version was found"
        if ! can_root; then
            say "no PostgreSQL cluster exists; run as root:  pg_createcluster $ver main --port $PG_PORT"
            pg_root_hint
            exit 1
        fi
        say "creating PostgreSQL cluster $ver/main on port $PG_PORT"
        as_root pg_createcluster "$ver" main --port "$PG_PORT" >/dev/null
        cluster=$(pg_cluster_5432)
    fi
    if [ -z "$cluster" ]; then
        if pg_accepting; then
            die "something listens on $PG_HOST:$PG_PORT but does not let user postgres in" \
                "without a password, and it is no Debian cluster this script manages;" \
                "set TESSERA_TEST_DATABASE_URL=postgresql://USER:PASSWORD@$PG_HOST:$PG_PORT/postgres"
        fi
        die "no PostgreSQL cluster is configured for port $PG_PORT (see pg_lsclusters);" \
            "set its port to $PG_PORT or set TESSERA_TEST_DATABASE_URL"
    fi
    read -r ver name status <<<"$cluster"

    if [[ "$status" != online* ]]; then
        if ! can_root; then
            say "PostgreSQL $ver/$name is down; run as root:"
            say "  pg_ctlcluster --skip-systemctl-redirect $ver $name start"
            pg_root_hint
            exit 1
        fi
        say "starting PostgreSQL cluster $ver/$name"
        as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start
    fi
    wait_for 30 pg_accepting \
        || die "PostgreSQL $ver/$name does not accept connections on $PG_HOST:$PG_PORT" \
               "(see /var/log/postgresql/postgresql-$ver-$name.log)"
    pg_query_ok && return 0

    # Reachable but user postgres needs a password over TCP: allow it from 127.0.0.1.
    local hba="/etc/postgresql/$ver/$name/pg_hba.conf"
    local line="host all all 127.0.0.1/32 trust"
    if ! command -v psql >/dev/null 2>&1; then
        die "psql is missing (Debian package postgresql-client)"
    fi
    if ! can_root || ! as_root test -f "$hba"; then
        say "PostgreSQL on $PG_HOST:$PG_PORT asks user postgres for a password; as root, add"
        say "  $line"
        say "as the FIRST rule of $hba and run:  pg_ctlcluster $ver $name reload"
        pg_root_hint
        exit 1
    fi
    say "adding '$line' at the top of $hba (development/CI machine only)"
    local tmp
    tmp=$(mktemp)
    {
        echo "# Added by Tessera scripts/bootstrap.sh: the test suite connects as postgres"
        echo "# over TCP from 127.0.0.1 without a password. Development/CI machines only."
        echo "$line"
        echo
        as_root cat "$hba"
    } >"$tmp"
    as_root test -e "$hba.tessera-orig" || as_root cp -p "$hba" "$hba.tessera-orig"
    as_root cp "$tmp" "$hba"   # cp onto the existing file keeps its owner and mode
    rm -f "$tmp"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload \
        || as_postgres psql -p "$PG_PORT" -Atqc 'select pg_reload_conf()' >/dev/null
    wait_for 10 pg_query_ok \
        || die "user postgres still cannot connect to $PG_HOST:$PG_PORT without a password;" \
               "check $hba (the original is in $hba.tessera-orig)"
}

# --------------------------------------------------------------------------- Chromium

# The browser tests use Debian's chromium (Playwright's own browser download is not reachable
# from every machine, and a Debian package is what a head-office PC would have anyway).
ensure_browser() {
    [ -x /usr/bin/chromium ] && return 0
    apt_install chromium fonts-dejavu-core || exit 1
    [ -x /usr/bin/chromium ] || die "chromium was installed but /usr/bin/chromium is missing"
}

# --------------------------------------------------------------------------- console assets

# The web console's browser assets (htmx, Pico CSS) come from the npm registry, pinned by
# central/console/assets/package-lock.json, and central serves them itself: head office may
# have no internet.  Its translations are compiled from the .po files (no binaries in git).
ASSETS=central/console/assets

ensure_console_assets() {
    local marker="$ASSETS/node_modules/.package-lock.json"
    if [ ! -e "$marker" ] || [ "$ASSETS/package-lock.json" -nt "$marker" ]; then
        if ! command -v npm >/dev/null 2>&1; then
            apt_install nodejs npm || exit 1
        fi
        say "npm ci in $ASSETS (htmx, Pico CSS for the web console)"
        (cd "$ASSETS" && npm ci --omit=dev --no-audit --no-fund --ignore-scripts --loglevel=error \
            >/dev/null) || die "npm ci failed in $ASSETS"
        touch "$marker"
    fi
    "$VENV/bin/python" -m central.console.catalogs
}

# --------------------------------------------------------------------------- Printables

# Printed forms and cards (central/printables.py) are set in DejaVu Sans, which has the
# Romanian letters Helvetica lacks; their tests read the PDFs back with pdftotext.
ensure_printing() {
    local missing=()
    command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
    [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
    [ "${#missing[@]}" -eq 0 ] && return 0
    apt_install "${missing[@]}" || exit 1
}

# --------------------------------------------------------------------------- main

ensure_venv
ensure_installed
ensure_mosquitto
ensure_console_assets
ensure_printing
if [ "$WITH_POSTGRES" -eq 1 ]; then
    ensure_postgres
fi
if [ "$WITH_BROWSER" -eq 1 ]; then
    ensure_browser
fi
