#!/usr/bin/env bash
# messagedb-setup.sh: make a MessageDB database ready (idempotent).
#
# Safe to run on every test run: when the database already holds a complete
# MessageDB install it only runs one psql query and exits.
# Run with --help for the settings.
set -euo pipefail

PROG=messagedb-setup

usage() {
  cat <<'EOF'
Usage: scripts/messagedb-setup.sh [--verbose] [--help]

Make a MessageDB (message store on PostgreSQL) database ready to use. The
script is idempotent: it starts the local PostgreSQL cluster if it does not
answer, installs MessageDB if the database lacks it (also repairing half
installed databases), and does nothing more when everything is in place.

On success the connection URI is the only line written to stdout, e.g.
  postgresql://postgres@127.0.0.1:5432/message_store
so  URI=$(scripts/messagedb-setup.sh)  works. Progress goes to stderr.
Connections must use search_path=message_store,public (or the role
message_store) because MessageDB's functions call each other unqualified.

Settings (environment variables, defaults in brackets):
  PGHOST               PostgreSQL host or socket directory [127.0.0.1]
  PGPORT               PostgreSQL port [5432]
  PGUSER               role used to install, needs superuser [postgres]
  PGPASSWORD           password, if the server asks for one [unset]
  MESSAGE_DB_NAME      database name [message_store]
  MESSAGE_DB_VERSION   version of the npm package @eventide/message-db [1.3.1]
  MESSAGE_DB_CACHE_DIR where that package is installed
                       [${XDG_CACHE_HOME:-$HOME/.cache}/aggregen/message-db-VERSION]
  MESSAGE_DB_WAIT      seconds to wait for PostgreSQL to answer after starting it [30]

Options:
  --verbose   show the output of npm and of MessageDB's installer
  -h, --help  show this help

Requirements: psql and pg_isready; npm (Node.js) only when installing;
pg_ctlcluster (Debian postgresql-common) only to start a stopped local cluster.
EOF
}

info() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

VERBOSE=0
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    -v|--verbose) VERBOSE=1 ;;
    *) printf '%s: error: unknown argument: %s (see --help)\n' "$PROG" "$arg" >&2; exit 2 ;;
  esac
done

export PGHOST="${PGHOST:-127.0.0.1}"
export PGPORT="${PGPORT:-5432}"
export PGUSER="${PGUSER:-postgres}"
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-5}"
MESSAGE_DB_NAME="${MESSAGE_DB_NAME:-message_store}"
MESSAGE_DB_VERSION="${MESSAGE_DB_VERSION:-1.3.1}"
MESSAGE_DB_WAIT="${MESSAGE_DB_WAIT:-30}"
cache_root="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}"
MESSAGE_DB_CACHE_DIR="${MESSAGE_DB_CACHE_DIR:-$cache_root/aggregen/message-db-$MESSAGE_DB_VERSION}"

# The name goes unquoted into SQL and into MessageDB's installer: keep it plain.
[[ "$MESSAGE_DB_NAME" =~ ^[a-z_][a-z0-9_]*$ ]] \
  || die "MESSAGE_DB_NAME must be a plain lower-case identifier (got '$MESSAGE_DB_NAME')"
[[ "$MESSAGE_DB_VERSION" =~ ^[0-9A-Za-z.+-]+$ ]] \
  || die "MESSAGE_DB_VERSION looks wrong: '$MESSAGE_DB_VERSION'"
[[ "$MESSAGE_DB_WAIT" =~ ^[0-9]+$ ]] || die "MESSAGE_DB_WAIT must be a whole number of seconds"
[[ "$PGPORT" =~ ^[0-9]+$ ]] || die "PGPORT must be a number (got '$PGPORT')"

command -v psql >/dev/null 2>&1 || die "psql not found: install the PostgreSQL client"

# psql without ~/.psqlrc, quiet, unaligned tuples only, stop on the first error.
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

connection_uri() {
  local host="$PGHOST"
  if [[ "$host" == /* ]]; then
    printf 'postgresql://%s@:%s/%s?host=%s\n' "$PGUSER" "$PGPORT" "$MESSAGE_DB_NAME" "$host"
  else
    if [[ "$host" == *:* ]]; then host="[$host]"; fi
    printf 'postgresql://%s@%s:%s/%s\n' "$PGUSER" "$host" "$PGPORT" "$MESSAGE_DB_NAME"
  fi
}

# Prints "t" when the database holds a complete MessageDB install: every
# function, the indexes and views, the message_store role and its grants (the
# installer's last step; function EXECUTE is not checked, PUBLIC has it by
# default). Fails (non-zero) when the database is missing or the server does
# not answer.
ready_sql="
SELECT CASE WHEN
  (SELECT count(DISTINCT p.proname)
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'message_store'
      AND p.proname IN ('message_store_version', 'hash_64', 'acquire_lock',
        'category', 'is_category', 'id', 'cardinal_id', 'stream_version',
        'write_message', 'get_stream_messages', 'get_category_messages',
        'get_last_stream_message')) = 12
  AND to_regclass('message_store.messages_id') IS NOT NULL
  AND to_regclass('message_store.messages_stream') IS NOT NULL
  AND to_regclass('message_store.messages_category') IS NOT NULL
  AND to_regclass('message_store.type_category_summary') IS NOT NULL
  AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'message_store')
THEN has_schema_privilege('message_store', 'message_store', 'USAGE')
 AND has_table_privilege('message_store', 'message_store.messages', 'INSERT')
 AND has_table_privilege('message_store', 'message_store.type_summary', 'SELECT')
ELSE false END"

is_ready() {
  local out
  out=$(q -d "$MESSAGE_DB_NAME" -c "$ready_sql" 2>/dev/null) || return 1
  [[ "$out" == "t" ]]
}

# ---- fast path -------------------------------------------------------------
if is_ready; then
  info "MessageDB is ready in database '$MESSAGE_DB_NAME'"
  connection_uri
  exit 0
fi

# ---- make PostgreSQL answer ----------------------------------------------------
command -v pg_isready >/dev/null 2>&1 || die "pg_isready not found: install the PostgreSQL client"

is_local_host() {
  case "$PGHOST" in
    127.0.0.1|localhost|::1|/*) return 0 ;;
    *) return 1 ;;
  esac
}

# pg_isready exit codes: 0 accepting, 1 rejecting (e.g. starting up),
# 2 no response, 3 bad parameters.
pg_state() {
  local rc=0
  pg_isready -q -t 3 >/dev/null 2>&1 || rc=$?
  echo "$rc"
}

# Prints "VERSION CLUSTER" of the local cluster to start: the one pg_lsclusters
# lists on PGPORT; without pg_lsclusters, the newest /etc/postgresql/*/main.
find_cluster() {
  local line ver name port best=""
  if command -v pg_lsclusters >/dev/null 2>&1; then
    while read -r ver name port _; do
      if [[ "$ver" =~ ^[0-9.]+$ && "$port" == "$PGPORT" ]]; then
        echo "$ver $name"
        return 0
      fi
    done < <(pg_lsclusters -h 2>/dev/null | sort -V)
    return 1
  fi
  [[ -d /etc/postgresql ]] || return 1
  best=$(for line in /etc/postgresql/*/main; do
           if [[ -d "$line" ]]; then basename "$(dirname "$line")"; fi
         done | grep -E '^[0-9.]+$' | sort -V | tail -n 1 || true)
  [[ -n "$best" ]] || return 1
  echo "$best main"
}

wait_for_postgres() {
  local i state
  for ((i = 0; i < MESSAGE_DB_WAIT * 2; i++)); do
    state=$(pg_state)
    [[ "$state" == 0 ]] && return 0
    sleep 0.5
  done
  return 1
}

state=$(pg_state)
if [[ "$state" == 3 ]]; then
  die "pg_isready rejects the connection settings (PGHOST=$PGHOST PGPORT=$PGPORT)"
elif [[ "$state" == 1 ]]; then
  info "PostgreSQL at $PGHOST:$PGPORT is not accepting connections yet; waiting up to ${MESSAGE_DB_WAIT}s"
  wait_for_postgres || die "PostgreSQL at $PGHOST:$PGPORT did not accept connections within ${MESSAGE_DB_WAIT}s"
elif [[ "$state" != 0 ]]; then
  is_local_host \
    || die "PostgreSQL at $PGHOST:$PGPORT does not answer, and it is not local so it will not be started here"
  command -v pg_ctlcluster >/dev/null 2>&1 \
    || die "PostgreSQL at $PGHOST:$PGPORT does not answer and pg_ctlcluster is missing: start PostgreSQL yourself"
  cluster=$(find_cluster) \
    || die "PostgreSQL at $PGHOST:$PGPORT does not answer and no local cluster uses port $PGPORT (see pg_lsclusters)"
  read -r cl_version cl_name <<<"$cluster"
  info "PostgreSQL does not answer at $PGHOST:$PGPORT; starting cluster $cl_version/$cl_name"
  start_out=$(pg_ctlcluster --skip-systemctl-redirect "$cl_version" "$cl_name" start 2>&1) || {
    # "already running" is fine: another process may have started it.
    if ! grep -qi 'already running' <<<"$start_out"; then
      printf '%s\n' "$start_out" >&2
      die "could not start PostgreSQL cluster $cl_version/$cl_name (pg_ctlcluster failed; are you root or the cluster owner?)"
    fi
  }
  wait_for_postgres \
    || die "started cluster $cl_version/$cl_name but PostgreSQL at $PGHOST:$PGPORT did not answer within ${MESSAGE_DB_WAIT}s (see /var/log/postgresql/)"
  info "PostgreSQL is up"
  if is_ready; then
    info "MessageDB is ready in database '$MESSAGE_DB_NAME'"
    connection_uri
    exit 0
  fi
fi

# The installer needs a superuser (it creates a role, a database, an extension).
su_out=$(q -d postgres -c "SELECT rolsuper FROM pg_roles WHERE rolname = current_user" 2>&1) \
  || die "cannot connect to database 'postgres' as role '$PGUSER' at $PGHOST:$PGPORT: $su_out"
[[ "$su_out" == t ]] \
  || die "role '$PGUSER' is not a superuser; MessageDB's installer needs one (set PGUSER)"

# ---- one installer at a time ---------------------------------------------------
mkdir -p "$MESSAGE_DB_CACHE_DIR" || die "cannot create cache directory $MESSAGE_DB_CACHE_DIR"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$MESSAGE_DB_CACHE_DIR/.lock" || die "cannot open lock file in $MESSAGE_DB_CACHE_DIR"
  flock -w 300 9 || die "timed out waiting for another messagedb-setup run (lock $MESSAGE_DB_CACHE_DIR/.lock)"
  # Another run may have finished the install while we waited.
  if is_ready; then
    info "MessageDB is ready in database '$MESSAGE_DB_NAME'"
    connection_uri
    exit 0
  fi
fi

# ---- fetch the MessageDB package ---------------------------------------------
pkg_dir="$MESSAGE_DB_CACHE_DIR/node_modules/@eventide/message-db"
db_dir="$pkg_dir/database"
log="$MESSAGE_DB_CACHE_DIR/setup.log"
: >"$log" || die "cannot write $log"

# Run a command, its output going to the log (and to stderr with --verbose).
# On failure show the end of the log.
run_logged() {
  local rc=0
  if [[ "$VERBOSE" == 1 ]]; then
    "$@" 2>&1 | tee -a "$log" >&2 || rc=$?
  else
    "$@" >>"$log" 2>&1 || rc=$?
  fi
  if [[ "$rc" != 0 ]]; then
    info "command failed ($*); last lines of $log:"
    tail -n 25 "$log" >&2
  fi
  return "$rc"
}

pkg_version() {
  sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$pkg_dir/package.json" 2>/dev/null | head -n 1
}

if [[ -f "$db_dir/install.sh" && "$(pkg_version)" == "$MESSAGE_DB_VERSION" ]]; then
  info "using cached @eventide/message-db@$MESSAGE_DB_VERSION in $MESSAGE_DB_CACHE_DIR"
else
  command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js/npm to fetch @eventide/message-db"
  info "installing npm package @eventide/message-db@$MESSAGE_DB_VERSION into $MESSAGE_DB_CACHE_DIR"
  run_logged npm install --prefix "$MESSAGE_DB_CACHE_DIR" --no-audit --no-fund --no-save \
      "@eventide/message-db@$MESSAGE_DB_VERSION" \
    || die "npm install of @eventide/message-db@$MESSAGE_DB_VERSION failed (network? version?)"
  [[ -f "$db_dir/install.sh" && "$(pkg_version)" == "$MESSAGE_DB_VERSION" ]] \
    || die "npm finished but $db_dir/install.sh (version $MESSAGE_DB_VERSION) is missing"
fi

# MessageDB's scripts use their own path unquoted.
[[ "$db_dir" != *[[:space:]]* ]] \
  || die "the cache path contains white space, which MessageDB's installer cannot handle: set MESSAGE_DB_CACHE_DIR"

# ---- install or repair ---------------------------------------------------------------
db_exists=$(q -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = '$MESSAGE_DB_NAME'") \
  || die "cannot query the list of databases"
table_exists=0
if [[ "$db_exists" == 1 ]]; then
  table_exists=$(q -d "$MESSAGE_DB_NAME" -c \
      "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'message_store' AND c.relname = 'messages' AND c.relkind = 'r'") \
    || die "cannot connect to database '$MESSAGE_DB_NAME'"
fi

export DATABASE_NAME="$MESSAGE_DB_NAME"
start_s=${EPOCHREALTIME/[.,]/}
if [[ "$table_exists" == 0 ]]; then
  # Fresh install. The installer tolerates an existing message_store role, but
  # its createdb fails when the database exists: switch that step off then.
  if [[ "$db_exists" == 1 ]]; then
    export CREATE_DATABASE=off
    info "database '$MESSAGE_DB_NAME' exists without MessageDB; installing MessageDB into it"
  else
    export CREATE_DATABASE=on
    info "installing MessageDB into new database '$MESSAGE_DB_NAME'"
  fi
  (cd "$db_dir" && run_logged bash ./install.sh) \
    || die "MessageDB's install.sh failed (log: $log)"
else
  # Half installed (the messages table is there, something else is missing).
  # The whole installer would fail (ALTER TABLE ... ADD PRIMARY KEY runs
  # again), so run its idempotent steps one by one; the messages are kept.
  info "database '$MESSAGE_DB_NAME' has a partial MessageDB install; repairing it (messages are kept)"
  # search_path: install-indexes.sh drops messages_stream without a schema.
  export PGOPTIONS='-c client_min_messages=warning -c search_path=message_store,public'
  has_pk=$(q -d "$MESSAGE_DB_NAME" -c \
      "SELECT count(*) FROM pg_constraint WHERE conrelid = 'message_store.messages'::regclass AND contype = 'p'") \
    || die "cannot inspect message_store.messages"
  run_logged q -d postgres -f "$db_dir/roles/message-store.sql" \
    || die "could not create the message_store role"
  run_logged q -d "$MESSAGE_DB_NAME" -c "CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA public" \
    || die "could not create the pgcrypto extension"
  if [[ "$has_pk" == 0 ]]; then
    run_logged q -d "$MESSAGE_DB_NAME" -c \
        "ALTER TABLE message_store.messages ADD PRIMARY KEY (global_position)" \
      || die "could not add the primary key of message_store.messages"
  fi
  for step in install-functions.sh install-indexes.sh install-views.sh install-privileges.sh; do
    (cd "$db_dir" && run_logged bash "./$step") || die "MessageDB's $step failed (log: $log)"
  done
  unset PGOPTIONS
fi

# ---- verify ------------------------------------------------------------------------
is_ready || die "MessageDB's installer finished but database '$MESSAGE_DB_NAME' is still incomplete (log: $log)"
version=$(PGOPTIONS='-c search_path=message_store,public' q -d "$MESSAGE_DB_NAME" -c \
    "SELECT message_store_version() WHERE stream_version('messagedb-setup-check') IS NULL") \
  || die "MessageDB functions do not work in database '$MESSAGE_DB_NAME' (log: $log)"
[[ -n "$version" ]] || die "MessageDB self-check returned nothing in database '$MESSAGE_DB_NAME'"
elapsed_ms=$(( (${EPOCHREALTIME/[.,]/} - start_s) / 1000 ))
info "MessageDB $version installed in database '$MESSAGE_DB_NAME' in ${elapsed_ms} ms (log: $log)"
info "connect with search_path=message_store,public, e.g. options='-c search_path=message_store,public'"
connection_uri
