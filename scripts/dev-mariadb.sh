#!/usr/bin/env bash
# A throw-away MariaDB for development, tests and the demo.
#
#   scripts/dev-mariadb.sh start [--dir DIR] [--port PORT]   start one (keeping DIR's data if any); prints its URL last
#   scripts/dev-mariadb.sh start --fresh ...                 start from empty system tables, dropping DIR's data
#   scripts/dev-mariadb.sh stop  [--dir DIR]                 stop it by its own PID (SIGTERM, then SIGKILL)
#   scripts/dev-mariadb.sh status [--dir DIR]                print the URL if it runs, exit 1 if not
#
# It never reads the machine's MariaDB configuration (--no-defaults) and never uses port 3306:
# it has its own datadir, socket and port under DIR (default: .dev/mariadb in the repository).
# The binlog is on with the settings capture needs (ROW, FULL image, FULL metadata, annotations),
# and the server runs in the Pacific/Apia time zone (UTC+13) so that time-zone bugs show up.
# TABLETIME_DEV_MARIADB_ARGS adds server options after ours (they win), e.g. --skip-log-bin for a test.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cmd="${1:-}"
[ $# -gt 0 ] && shift
dir="$repo/.dev/mariadb"
port=""
fresh=0
while [ $# -gt 0 ]; do
  case "$1" in
    --fresh) fresh=1; shift ;;
    --dir) dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    *) echo "dev-mariadb: unknown argument '$1' (usage: dev-mariadb.sh start|stop|status [--dir DIR] [--port PORT])" >&2; exit 2 ;;
  esac
done
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
pidfile="$dir/mariadbd.pid"
urlfile="$dir/url"
# Where the initialised system tables are kept, so that each new server is a copy (fast) rather
# than a fresh mariadb-install-db run (several seconds).
cache="${TABLETIME_CACHE_DIR:-$repo/.dev/cache}"
tz="${TABLETIME_DEV_TZ:-Pacific/Apia}"

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

ensure_installed() {
  if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; then
    return 0
  fi
  if [ "$(id -u)" = "0" ] && [ -n "${CI:-}" ]; then
    echo "dev-mariadb: mariadbd not found; installing mariadb-server (CI, root)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >&2
    return 0
  fi
  echo "dev-mariadb: mariadbd is not installed. Install it with: apt-get install -y mariadb-server" >&2
  exit 1
}

mariadbd_bin() { command -v mariadbd 2>/dev/null || echo /usr/sbin/mariadbd; }

user_args=()
if [ "$(id -u)" = "0" ]; then user_args=(--user=root); fi

template() {
  local version tpl
  version="$("$(mariadbd_bin)" --version | awk '{print $3}')"
  tpl="$cache/mariadb-template-$version"
  if [ ! -f "$tpl/.ready" ]; then
    rm -rf "$tpl.tmp.$$"
    mkdir -p "$tpl.tmp.$$"
    mariadb-install-db --no-defaults "${user_args[@]}" --datadir="$tpl.tmp.$$" \
      --auth-root-authentication-method=normal --skip-test-db >"$dir/install-db.log" 2>&1 || {
      echo "dev-mariadb: mariadb-install-db failed; see $dir/install-db.log" >&2
      exit 1
    }
    touch "$tpl.tmp.$$/.ready"
    # Another run may have built it meanwhile: keep whichever landed first.
    mv -T "$tpl.tmp.$$" "$tpl" 2>/dev/null || rm -rf "$tpl.tmp.$$"
  fi
  echo "$tpl"
}

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  echo "dev-mariadb: found no free port" >&2
  exit 1
}

start() {
  if running; then
    cat "$urlfile"
    return 0
  fi
  ensure_installed
  local tpl attempt p pid
  if [ "$fresh" = 1 ] || [ ! -d "$dir/data/mysql" ]; then
    tpl="$(template)"
    rm -rf "$dir/data"
    cp -a "$tpl" "$dir/data"
    rm -f "$dir/data/.ready"
  fi
  for attempt in 1 2 3 4 5; do
    p="${port:-$(free_port)}"
    rm -f "$dir/mariadbd.err" "$dir/mariadbd.sock"
    # setsid: the server must not die with the shell that started it, nor take its signals.
    TZ="$tz" setsid "$(mariadbd_bin)" --no-defaults "${user_args[@]}" \
      --datadir="$dir/data" --port="$p" --bind-address=127.0.0.1 \
      --socket="$dir/mariadbd.sock" --pid-file="$pidfile" --log-error="$dir/mariadbd.err" \
      --skip-name-resolve \
      --log-bin="$dir/data/mariadb-bin" --binlog-format=ROW --binlog-row-image=FULL \
      --binlog-row-metadata=FULL --binlog-annotate-row-events=ON --server-id=1 \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
      --innodb-buffer-pool-size=128M --max-allowed-packet=256M \
      ${TABLETIME_DEV_MARIADB_ARGS:-} \
      </dev/null >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if mariadb --no-defaults -h127.0.0.1 -P"$p" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
        echo "$pid" >"$pidfile"
        echo "mysql://root@127.0.0.1:$p/" >"$urlfile"
        cat "$urlfile"
        return 0
      fi
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    if [ -n "$port" ] || ! grep -q "Address already in use\|Do you already have another" "$dir/mariadbd.err" 2>/dev/null; then
      echo "dev-mariadb: the server did not start (attempt $attempt); its log:" >&2
      tail -n 20 "$dir/mariadbd.err" >&2 || true
      exit 1
    fi
  done
  echo "dev-mariadb: no free port after 5 attempts" >&2
  exit 1
}

stop() {
  if ! [ -f "$pidfile" ]; then return 0; fi
  local pid
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "dev-mariadb: server $pid did not stop in 10 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile" "$urlfile"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) if running; then cat "$urlfile"; else echo "dev-mariadb: not running (dir $dir)" >&2; exit 1; fi ;;
  *) echo "usage: dev-mariadb.sh start|stop|status [--dir DIR] [--port PORT]" >&2; exit 2 ;;
esac
