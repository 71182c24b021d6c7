#!/usr/bin/env bash
# Runs the same load scenarios against Prosody, ejabberd (Mnesia, and PostgreSQL as ejabberd-pg),
# Parley (embedded storage and PostgreSQL) and the raw Deno relay, all on loopback, then prints a
# comparison table and writes bench/results/latest.json. Reference servers run as throwaway
# instances under a temp dir, never as the system services. Whole run is bounded (BENCH_TOTAL_S,
# default 900 s).
#
#   bench/compare.sh                      # everything
#   BENCH_TARGETS="prosody ejabberd" bench/compare.sh
#   BENCH_KEEP=1 bench/compare.sh         # keep the temp dir (logs, raw JSON) for inspection
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DOMAIN=${BENCH_DOMAIN:-localhost}
TARGETS=${BENCH_TARGETS:-"prosody ejabberd ejabberd-pg parley parley-pg relay"}
TOTAL_S=${BENCH_TOTAL_S:-900}
SCENARIO_S=${BENCH_SCENARIO_S:-60}
# Ports below 32768 (outside the ephemeral range) and away from 5222.
PORT_PROSODY=15222 PORT_EJABBERD=15322 PORT_RELAY=15422 PORT_PARLEY=15522 PORT_PARLEY_PG=15622
PORT_EJABBERD_PG=15722
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
# ejabberd-pg: a database of its own on the same server, made afresh from ejabberd's schema.
EJ_SQL_HOST=${BENCH_EJABBERD_SQL_HOST:-127.0.0.1} EJ_SQL_PORT=${BENCH_EJABBERD_SQL_PORT:-5432}
EJ_SQL_USER=${BENCH_EJABBERD_SQL_USER:-postgres} EJ_SQL_DB=${BENCH_EJABBERD_SQL_DB:-parley_bench_ejabberd}
EJ_SQL_SCHEMA=/usr/share/ejabberd/sql/pg.sql

# Scenario sizes: small enough for a < 10 min run on 2 cores, large enough to leave the noise.
# Logins: 2000 accounts, each logged in once untimed before the timed pass (bench/load's
# --warm-logins): PBKDF2 then runs once per account in the generator, as a client that keeps its
# salted password would, instead of taking the CPU the servers share with it; 300 logins measured
# JIT warm-up as much as logins, and 1000 gave timed passes of only 0.5-0.7 s.
LOGIN_USERS=${LOGIN_USERS:-2000} LOGIN_C=${LOGIN_C:-20}
# idle: IDLE_USERS sessions measured beyond IDLE_WARMUP kept open, RSS read for IDLE_SETTLE_S on
# each side (the minimum: runtimes return memory 10-30 s after a burst), so ~100 s per target.
IDLE_USERS=${IDLE_USERS:-2000} IDLE_WARMUP=${IDLE_WARMUP:-200} IDLE_SETTLE_S=${IDLE_SETTLE_S:-40}
TP_PAIRS=${TP_PAIRS:-10} TP_WINDOW=${TP_WINDOW:-10} TP_MESSAGES=${TP_MESSAGES:-300}
# A throughput run shorter than TP_MIN_S measures start-up (JIT, first batches), not throughput:
# it is run again with messages scaled to last ~TP_MIN_S (at most TP_MAX_MESSAGES per pair). The
# same rule for every target; the short run is kept as <target>--throughput-short.json. The cap
# is high enough for the fastest target: at 20,000 per pair the relay's run lasted 0.55 s.
TP_MIN_S=${TP_MIN_S:-4} TP_MAX_MESSAGES=${TP_MAX_MESSAGES:-100000}
OFFLINE_MESSAGES=${OFFLINE_MESSAGES:-500}
MUC_USERS=${MUC_USERS:-30} MUC_MESSAGES=${MUC_MESSAGES:-200} MUC_WINDOW=${MUC_WINDOW:-10}
MAM_MESSAGES=${MAM_MESSAGES:-1000} MAM_PAGES=${MAM_PAGES:-20}

TMP=$(mktemp -d /tmp/parley-bench.XXXXXX)
chmod 755 "$TMP"
mkdir -p "$TMP/results" bench/results
START=$SECONDS
STARTED_PIDS=()
EJABBERD_STARTED="" EJABBERD_PID=""
# the running ejabberd instance's directory under $TMP (ejabberd or ejabberd-pg)
EJ_DIR=""

log() { printf '[compare %3ds] %s\n' $((SECONDS - START)) "$*" >&2; }
left() { echo $((TOTAL_S - (SECONDS - START))); }

# As the ejabberd user directly (setpriv, not ejabberdctl's own su): su would reset the open-file
# limit to 1024 through PAM and cap the idle scenario, and HOME keeps the Erlang cookie in our dir.
ejabberdctl_bench() {
  (cd "$EJ_DIR" && HOME="$EJ_DIR" setpriv --reuid ejabberd --regid ejabberd --init-groups \
    ejabberdctl --config-dir "$EJ_DIR" --config "$EJ_DIR/ejabberd.yml" \
    --ctl-config "$ROOT/bench/ejabberd/ejabberdctl.cfg" --logs "$EJ_DIR/logs" \
    --spool "$EJ_DIR/spool" --node "$(basename "$EJ_DIR" | tr -- - _)_bench@localhost" "$@")
}

# Stops the running instance and waits for its foreground process, so the next one starts clean.
stop_ejabberd() {
  [ -n "$EJABBERD_STARTED" ] || return 0
  timeout 20 bash -c "$(declare -f ejabberdctl_bench); EJ_DIR='$EJ_DIR' ROOT='$ROOT' ejabberdctl_bench stop" \
    >/dev/null 2>&1 || true
  [ -n "$EJABBERD_PID" ] && stop_pid_tree "$EJABBERD_PID"
  EJABBERD_STARTED="" EJABBERD_PID=""
}

# Every process we started, found through our own pids, never by name.
descendants() {
  local p c
  for p in "$@"; do
    for c in $(pgrep -P "$p" 2>/dev/null); do
      echo "$c"
      descendants "$c"
    done
  done
}

cleanup() {
  trap - EXIT INT TERM
  stop_ejabberd
  local all=() p
  for p in "${STARTED_PIDS[@]}"; do all+=("$p" $(descendants "$p")); done
  for p in "${all[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=0
    for p in "${all[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.2
  done
  for p in "${all[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if [ -n "${BENCH_KEEP:-}" ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # port seconds pid
  local i
  for i in $(seq 1 $(($2 * 5))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null && return 1
    sleep 0.2
  done
  return 1
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

install_missing() {
  local pkgs=()
  command -v prosody >/dev/null || pkgs+=(prosody)
  command -v ejabberdctl >/dev/null || pkgs+=(ejabberd)
  # ejabberd's PostgreSQL driver is a package of its own (suggested, not required, by ejabberd)
  case " $TARGETS " in
    *" ejabberd-pg "*) dpkg-query -W -f='${Status}' erlang-p1-pgsql 2>/dev/null |
      grep -q "install ok installed" || pkgs+=(erlang-p1-pgsql) ;;
  esac
  [ ${#pkgs[@]} = 0 ] && return 0
  log "installing ${pkgs[*]}"
  # Keep apt from starting the system services: the bench runs its own instances.
  local had_policy=1
  [ -e /usr/sbin/policy-rc.d ] || { had_policy=0; printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
  [ $had_policy = 0 ] && rm -f /usr/sbin/policy-rc.d
}

make_cert() { # dir
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 -subj "/CN=$DOMAIN" \
    -addext "subjectAltName=DNS:$DOMAIN,DNS:conference.$DOMAIN" \
    -keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
}

# Messages per pair for a run lasting ~TP_MIN_S, from the short run's elapsed time; empty when the
# short run was long enough (or failed).
longer_messages() { # result.json
  python3 - "$1" "$TP_MESSAGES" "$TP_MIN_S" "$TP_MAX_MESSAGES" <<'PY'
import json, math, sys
path, m, min_s, cap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
try:
    r = json.load(open(path))
except Exception:
    sys.exit(0)
m = int(r.get("params", {}).get("messages") or m)  # per pair, in the run being scaled
ms = r.get("elapsedMs") or 0
if r.get("ok") and 0 < ms < min_s * 1000 and m < cap:
    print(min(cap, math.ceil(m * min_s * 1000 / ms)))
PY
}

# One scenario against one target; results in $TMP/results/<target>--<scenario>.{json,txt}.
run_load() { # target port pid scenario limit duration extra-args...
  local target=$1 port=$2 pid=$3 s=$4 limit=$5 d=$6
  shift 6
  timeout "$limit" deno run -A bench/load.ts --scenario "$s" --host 127.0.0.1 \
    --port "$port" --domain "$DOMAIN" --duration "$d" --pid "$pid" "$@" \
    --json "$TMP/results/$target--$s.json" >"$TMP/results/$target--$s.txt" 2>&1 ||
    log "$target/$s: check failed or error (see summary)"
  grep -E '^== |PerSec|p99|kibPerSession|lost|error:|cpuMs' "$TMP/results/$target--$s.txt" | head -8 >&2
}

# A rerun is scaled from the run before it, whose rate start-up held down, so it can fall short of
# TP_MIN_S again (fast targets' first reruns lasted 1.4-2 s): up to three reruns, each from the last.
rerun_throughput() { # target port pid limit duration
  local target=$1 port=$2 pid=$3 limit=$4 d=$5 m i
  for i in 1 2 3; do
    m=$(longer_messages "$TMP/results/$target--throughput.json")
    [ -n "$m" ] || return 0
    [ "$(left)" -lt 30 ] && return 0
    mv "$TMP/results/$target--throughput.json" "$TMP/results/$target--throughput-short.json"
    log "$target: throughput again with $m messages per pair (the run before lasted under ${TP_MIN_S}s)"
    run_load "$target" "$port" "$pid" throughput "$limit" "$d" \
      --pairs "$TP_PAIRS" --window "$TP_WINDOW" --messages "$m"
  done
}

run_scenarios() { # target port pid scenario...
  local target=$1 port=$2 pid=$3
  shift 3
  local s extra
  for s in "$@"; do
    if [ "$(left)" -lt 30 ]; then log "time budget spent, skipping $target/$s"; continue; fi
    case $s in
      login) extra="--users $LOGIN_USERS --concurrency $LOGIN_C" ;;
      idle) extra="--users $IDLE_USERS --warmup $IDLE_WARMUP --settle $((IDLE_SETTLE_S * 1000)) --concurrency 50" ;;
      throughput) extra="--pairs $TP_PAIRS --window $TP_WINDOW --messages $TP_MESSAGES" ;;
      offline) extra="--messages $OFFLINE_MESSAGES" ;;
      muc) extra="--users $MUC_USERS --messages $MUC_MESSAGES --window $MUC_WINDOW" ;;
      mam) extra="--messages $MAM_MESSAGES --pages $MAM_PAGES" ;;
    esac
    local d=$SCENARIO_S
    [ "$d" -gt "$(left)" ] && d=$(left)
    local limit=$((d * 2 + 60))
    # The idle settle windows come on top of the logins that --duration bounds.
    [ "$s" = idle ] && limit=$((limit + 2 * IDLE_SETTLE_S))
    log "$target: $s"
    # shellcheck disable=SC2086
    run_load "$target" "$port" "$pid" "$s" "$limit" "$d" $extra
    if [ "$s" = throughput ]; then rerun_throughput "$target" "$port" "$pid" "$limit" "$d"; fi
  done
}

ALL_SCENARIOS=${BENCH_SCENARIOS:-"login idle throughput offline muc mam"}

start_prosody() {
  local d="$TMP/prosody"
  mkdir -p "$d"
  make_cert "$d"
  chown -R prosody: "$d"
  port_free $PORT_PROSODY || { log "port $PORT_PROSODY busy, skipping prosody"; return 1; }
  # setpriv execs prosody in place, so $! is the server's own pid (for RSS).
  BENCH_DATA_DIR="$d" BENCH_C2S_PORT=$PORT_PROSODY BENCH_DOMAIN="$DOMAIN" \
    BENCH_CERT="$d/cert.pem" BENCH_KEY="$d/key.pem" \
    setpriv --reuid prosody --regid prosody --init-groups \
    prosody --config "$ROOT/bench/prosody/prosody.cfg.lua" -F >"$d/stdout.log" 2>&1 &
  local pid=$!
  STARTED_PIDS+=("$pid")
  wait_port $PORT_PROSODY 20 "$pid" || { log "prosody did not start: $(tail -3 "$d/stdout.log")"; return 1; }
  SERVER_PID=$pid
}

# A fresh database for ejabberd-pg from ejabberd's own schema file; false when that cannot be done.
make_ejabberd_db() {
  command -v psql >/dev/null && [ -r "$EJ_SQL_SCHEMA" ] || return 1
  local psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$EJ_SQL_HOST" -p "$EJ_SQL_PORT" -U "$EJ_SQL_USER")
  "${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS $EJ_SQL_DB" -c "CREATE DATABASE $EJ_SQL_DB" \
    >/dev/null 2>&1 && "${psql[@]}" -d "$EJ_SQL_DB" -f "$EJ_SQL_SCHEMA" >/dev/null 2>&1
}

start_ejabberd() { # port storage (mnesia | sql)
  local port=$1 db=$2
  EJ_DIR="$TMP/ejabberd"
  [ "$db" = sql ] && EJ_DIR="$TMP/ejabberd-pg"
  local d=$EJ_DIR
  mkdir -p "$d/spool" "$d/logs"
  make_cert "$d"
  cat "$d/cert.pem" "$d/key.pem" >"$d/combined.pem"
  : >"$d/inetrc"
  local auth=internal
  [ "$db" = sql ] && auth=sql
  sed -e "s|@BENCH_DOMAIN@|$DOMAIN|g; s|@BENCH_C2S_PORT@|$port|g; s|@BENCH_CERT@|$d/combined.pem|g" \
    -e "s|@BENCH_AUTH@|$auth|g; s|@BENCH_DB@|$db|g" \
    "$ROOT/bench/ejabberd/ejabberd.yml" >"$d/ejabberd.yml"
  if [ "$db" = sql ]; then
    sed -e "s|@BENCH_SQL_HOST@|$EJ_SQL_HOST|g; s|@BENCH_SQL_PORT@|$EJ_SQL_PORT|g" \
      -e "s|@BENCH_SQL_DB@|$EJ_SQL_DB|g; s|@BENCH_SQL_USER@|$EJ_SQL_USER|g" \
      "$ROOT/bench/ejabberd/sql.yml" >>"$d/ejabberd.yml"
  fi
  chown -R ejabberd: "$d"
  port_free "$port" || { log "port $port busy, skipping ejabberd"; return 1; }
  ejabberdctl_bench foreground >"$d/stdout.log" 2>&1 &
  local pid=$!
  STARTED_PIDS+=("$pid")
  EJABBERD_STARTED=1 EJABBERD_PID=$pid
  wait_port "$port" 60 "$pid" || { log "ejabberd did not start: $(tail -3 "$d/stdout.log")"; return 1; }
  SERVER_PID=""
  local p
  for p in $(descendants "$pid"); do
    [ "$(cat /proc/"$p"/comm 2>/dev/null)" = beam.smp ] && SERVER_PID=$p
  done
  [ -n "$SERVER_PID" ] || { log "ejabberd: beam.smp pid not found"; return 1; }
}

start_parley() { # port datadir [database url]
  port_free "$1" || { log "port $1 busy, skipping parley"; return 1; }
  mkdir -p "$2"
  # Own session so every process deno task spawns is found from this one pid.
  env PARLEY_C2S_PORT="$1" PARLEY_REQUIRE_ENCRYPTION=false PARLEY_REGISTRATION=open \
    PARLEY_DATA_DIR="$2" PARLEY_DOMAIN="$DOMAIN" ${3:+"PARLEY_DATABASE_URL=$3"} \
    setsid deno task start >"$2/stdout.log" 2>&1 &
  local pid=$!
  STARTED_PIDS+=("$pid")
  if ! wait_port "$1" 60 "$pid"; then
    log "parley did not start (in progress?): $(tail -3 "$2/stdout.log" | tr '\n' ' ')"
    return 1
  fi
  # RSS belongs to the deno process that listens, the leaf of the task tree.
  SERVER_PID=$pid
  local p
  for p in $(descendants "$pid"); do
    [ "$(cat /proc/"$p"/comm 2>/dev/null)" = deno ] && SERVER_PID=$p
  done
}

stop_pid_tree() {
  local p all=("$1" $(descendants "$1"))
  for p in "${all[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 1 25); do kill -0 "$1" 2>/dev/null || break; sleep 0.2; done
  for p in "${all[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}

install_missing
for t in $TARGETS; do
  [ "$(left)" -lt 60 ] && { log "time budget spent, skipping $t"; continue; }
  SERVER_PID=""
  case $t in
    prosody)
      start_prosody && run_scenarios prosody $PORT_PROSODY "$SERVER_PID" $ALL_SCENARIOS
      [ -n "$SERVER_PID" ] && stop_pid_tree "$SERVER_PID"
      ;;
    ejabberd)
      if start_ejabberd $PORT_EJABBERD mnesia; then
        run_scenarios ejabberd $PORT_EJABBERD "$SERVER_PID" $ALL_SCENARIOS
      fi
      stop_ejabberd
      ;;
    ejabberd-pg)
      if ! (exec 3<>"/dev/tcp/$EJ_SQL_HOST/$EJ_SQL_PORT") 2>/dev/null; then
        log "no PostgreSQL on $EJ_SQL_HOST:$EJ_SQL_PORT, skipping ejabberd-pg"
      elif ! make_ejabberd_db; then
        log "could not make database $EJ_SQL_DB from $EJ_SQL_SCHEMA, skipping ejabberd-pg"
      elif start_ejabberd $PORT_EJABBERD_PG sql; then
        run_scenarios ejabberd-pg $PORT_EJABBERD_PG "$SERVER_PID" $ALL_SCENARIOS
      fi
      stop_ejabberd
      ;;
    parley)
      start_parley $PORT_PARLEY "$TMP/parley" &&
        run_scenarios parley $PORT_PARLEY "$SERVER_PID" $ALL_SCENARIOS
      [ ${#STARTED_PIDS[@]} -gt 0 ] && stop_pid_tree "${STARTED_PIDS[-1]}"
      ;;
    parley-pg)
      if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
        log "no PostgreSQL on 127.0.0.1:5432, skipping parley-pg"
      elif start_parley $PORT_PARLEY_PG "$TMP/parley-pg" "$PG_URL"; then
        run_scenarios parley-pg $PORT_PARLEY_PG "$SERVER_PID" $ALL_SCENARIOS
      fi
      [ ${#STARTED_PIDS[@]} -gt 0 ] && stop_pid_tree "${STARTED_PIDS[-1]}"
      ;;
    relay)
      port_free $PORT_RELAY || { log "port $PORT_RELAY busy, skipping relay"; continue; }
      deno run -A bench/relay.ts --port $PORT_RELAY --duration "$(left)" >"$TMP/relay.log" 2>&1 &
      STARTED_PIDS+=($!)
      # The relay has no storage, rooms or archive: only the routing scenarios apply.
      wait_port $PORT_RELAY 20 $! && run_scenarios relay $PORT_RELAY "${STARTED_PIDS[-1]}" login idle throughput
      stop_pid_tree "${STARTED_PIDS[-1]}"
      ;;
    *) log "unknown target $t" ;;
  esac
done

deno run -A bench/load/report.ts "$TMP/results" bench/results/latest.json \
  "prosody=$(dpkg-query -W -f='${Version}' prosody 2>/dev/null)" \
  "ejabberd=$(dpkg-query -W -f='${Version}' ejabberd 2>/dev/null)"
log "done in $((SECONDS - START)) s"
