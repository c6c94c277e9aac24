#!/usr/bin/env bash
# make run / make stop: the whole product on one machine, wired as on the cluster.
#
#   scripts/run.sh start   start PostgreSQL, db-service, node-server, file-sink,
#                          dead-letter-logger and the local broker; stay in the foreground
#                          until Ctrl-C (or `make stop`), then stop everything cleanly
#   scripts/run.sh stop    stop a running `make run` from another terminal
#
# Everything lives under .run/: PostgreSQL's private data directory, one log file per
# process, each service's DATA_DIR and the pid files. Ports can be overridden:
#   NODE_SERVER_PORT=8080 DB_SERVICE_PORT=8081 FILE_SINK_PORT=8082
#   DEAD_LETTER_LOGGER_PORT=8083 BROKER_PORT=8084 RUN_PG_PORT=55432
# FAILURE_RATE (file-sink, default 0.5) and the OTEL_* variables pass through.
set -euo pipefail
cd "$(dirname "$0")/.."

top=$(pwd)
run=$top/.run
bin=${BUILD_DIR:-$top/build}
pg_bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1)

NODE_SERVER_PORT=${NODE_SERVER_PORT:-8080}
DB_SERVICE_PORT=${DB_SERVICE_PORT:-8081}
FILE_SINK_PORT=${FILE_SINK_PORT:-8082}
DEAD_LETTER_LOGGER_PORT=${DEAD_LETTER_LOGGER_PORT:-8083}
BROKER_PORT=${BROKER_PORT:-8084}
RUN_PG_PORT=${RUN_PG_PORT:-55432}

# PostgreSQL refuses to run as root: as root, it runs as the `postgres` system user.
pg_user=$(id -un)
as_pg() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
	pg_user=postgres
	as_pg() { runuser -u postgres -- "$@"; }
fi

say() { printf 'run: %s\n' "$*"; }

wait_http() { # url seconds name
	local deadline=$((SECONDS + $2))
	until curl -fsS -o /dev/null "$1" 2>/dev/null; do
		if [ $SECONDS -ge $deadline ]; then
			say "$3 did not become healthy at $1; see its log under .run/logs/"
			return 1
		fi
		sleep 0.1
	done
}

start_pg() {
	local data=$run/pg/data sock=$run/pg/sock
	[ -n "$pg_bin" ] || { say "PostgreSQL is not installed: run 'make deps' first"; exit 1; }
	mkdir -p "$run/pg" "$sock"
	if [ ! -s "$data/PG_VERSION" ]; then
		say "initdb (first run) into .run/pg/data as $pg_user"
		[ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$run/pg"
		as_pg "$pg_bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 \
			>"$run/logs/initdb.log" 2>&1
	fi
	[ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$run/pg"
	as_pg "$pg_bin/pg_ctl" -D "$data" -l "$run/pg/postgresql.log" -w -t 30 \
		-o "-p $RUN_PG_PORT -k $sock -c listen_addresses=127.0.0.1" start >/dev/null
	as_pg "$pg_bin/psql" -h 127.0.0.1 -p "$RUN_PG_PORT" -U postgres -d postgres -qAt \
		-c "SELECT 1 FROM pg_database WHERE datname = 'bookstore'" | grep -q 1 ||
		as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$RUN_PG_PORT" -U postgres bookstore
}

stop_pg() {
	local data=$run/pg/data
	if [ -s "$data/postmaster.pid" ] && [ -n "$pg_bin" ]; then
		as_pg "$pg_bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
	fi
}

start_service() { # name port env...
	local name=$1 port=$2
	shift 2
	mkdir -p "$run/data/$name"
	env PORT="$port" OTEL_SERVICE_NAME="$name" "$@" "$bin/$name" \
		>>"$run/logs/$name.log" 2>&1 &
	echo $! >"$run/pids/$name"
	wait_http "http://127.0.0.1:$port/healthz" 20 "$name"
}

stop_services() {
	local name pid
	for name in node-server local-broker file-sink dead-letter-logger db-service; do
		[ -f "$run/pids/$name" ] || continue
		pid=$(cat "$run/pids/$name")
		kill -TERM "$pid" 2>/dev/null || true
	done
	for name in node-server local-broker file-sink dead-letter-logger db-service; do
		[ -f "$run/pids/$name" ] || continue
		pid=$(cat "$run/pids/$name")
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		rm -f "$run/pids/$name"
	done
}

stop_all() {
	trap - EXIT
	say "stopping"
	stop_services
	stop_pg
	rm -f "$run/run.pid"
	say "stopped"
}

start() {
	mkdir -p "$run/logs" "$run/pids" "$run/data"
	if [ -f "$run/run.pid" ] && kill -0 "$(cat "$run/run.pid")" 2>/dev/null; then
		say "already running (pid $(cat "$run/run.pid")); 'make stop' stops it"
		exit 1
	fi
	echo $$ >"$run/run.pid"
	trap 'exit 0' INT TERM
	trap stop_all EXIT

	start_pg
	local db_url="postgresql://postgres@127.0.0.1:$RUN_PG_PORT/bookstore"
	local services="node-server=http://127.0.0.1:$NODE_SERVER_PORT"
	services+=",file-sink=http://127.0.0.1:$FILE_SINK_PORT"
	services+=",dead-letter-logger=http://127.0.0.1:$DEAD_LETTER_LOGGER_PORT"

	start_service db-service "$DB_SERVICE_PORT" DATABASE_URL="$db_url"
	start_service file-sink "$FILE_SINK_PORT" DATA_DIR="$run/data/file-sink" \
		FAILURE_RATE="${FAILURE_RATE:-0.5}"
	start_service dead-letter-logger "$DEAD_LETTER_LOGGER_PORT" \
		DATA_DIR="$run/data/dead-letter-logger"
	start_service local-broker "$BROKER_PORT" DATA_DIR="$run/data/local-broker" \
		BROKER_MANIFESTS="$top/k8s/base/eventing" BROKER_SERVICES="$services"
	start_service node-server "$NODE_SERVER_PORT" \
		K_SINK="http://127.0.0.1:$BROKER_PORT/bookstore/bookstore-broker" \
		DB_SERVICE_URL="http://127.0.0.1:$DB_SERVICE_PORT" FRONTEND_DIR="$top/frontend-static"

	cat <<EOF

  The bookstore is running.
    page:               http://127.0.0.1:$NODE_SERVER_PORT/
    file-sink log:      $run/data/file-sink/events.log
    dead letters:       $run/data/dead-letter-logger/events.log
    process logs:       $run/logs/
    broker ingress:     http://127.0.0.1:$BROKER_PORT/bookstore/bookstore-broker
  Ctrl-C or 'make stop' stops everything.

EOF
	# Stay in the foreground until a service dies, Ctrl-C, or `make stop` (SIGTERM to us).
	while true; do
		for name in db-service file-sink dead-letter-logger local-broker node-server; do
			if ! kill -0 "$(cat "$run/pids/$name")" 2>/dev/null; then
				say "$name exited; see .run/logs/$name.log"
				exit 1
			fi
		done
		sleep 1 &
		wait $! || true
	done
}

stop() {
	if [ -f "$run/run.pid" ] && kill -0 "$(cat "$run/run.pid")" 2>/dev/null; then
		kill -TERM "$(cat "$run/run.pid")"
		for _ in $(seq 1 150); do
			[ -f "$run/run.pid" ] || { say "stopped"; return 0; }
			sleep 0.1
		done
	fi
	# No supervisor left (it was killed): clean up whatever it started.
	stop_services
	stop_pg
	rm -f "$run/run.pid"
	say "stopped"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
