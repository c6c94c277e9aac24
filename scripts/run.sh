#!/usr/bin/env bash
# make run / make stop: the whole product on one machine, wired as on the cluster.
#
#   scripts/run.sh start   start PostgreSQL, db-service, node-server, file-sink,
#                          dead-letter-logger, the two moderation steps (bad-word-filter,
#                          sentiment-analysis) and the local broker; stay in the foreground
#                          until Ctrl-C (or `make stop`), then stop everything cleanly
#   scripts/run.sh stop    stop a running `make run` from another terminal
#
# Everything lives under .run/ (RUN_DIR overrides it): PostgreSQL's private data directory,
# one log file per process under logs/, each service's DATA_DIR under data/ and the pid files.
# Binaries come from build/ (BUILD_DIR overrides it). Ports can be overridden:
#   NODE_SERVER_PORT=8080 DB_SERVICE_PORT=8081 FILE_SINK_PORT=8082
#   DEAD_LETTER_LOGGER_PORT=8083 BROKER_PORT=8084 BAD_WORD_FILTER_PORT=8085
#   SENTIMENT_ANALYSIS_PORT=8086 RUN_PG_PORT=55432
# FAILURE_RATE (file-sink, default 0.5) or FAIL_EVERY, FAIL_FIRST, BADWORDS_FILE,
# SENTIMENT_LEXICON_FILE, SENTIMENT_EMOJI_FILE (default: the files under services/*/data),
# LOG_LEVEL, TRACE_UI_URL (node-server) and the OTEL_* variables pass through. node-server gets
# the Broker's delivery spec (DELIVERY_*) from k8s/base/eventing/broker.yaml, and both sinks and
# both moderation steps its POST /journey. Every service gets BIND_ADDRESS=127.0.0.1 (override with BIND_ADDRESS), so
# nothing listens beyond this machine; a port already in use stops the start with a message.
# PostgreSQL listens on 127.0.0.1 and asks for a password (scram-sha-256), generated on the
# first run and kept in .run/pg-password (mode 0600); db-service gets it in DATABASE_URL.
# PG_BINDIR overrides where PostgreSQL's programs are (default: the newest
# /usr/lib/postgresql/*/bin).
# RUN_KEEP_GOING=1 keeps the rest running when one service exits (see the end of start()).
#
# Each service runs in its own session (setsid), so Ctrl-C reaches only this script, which
# then stops them in order: node-server (no new events), the broker (it finishes the deliveries
# in flight while the subscribers are still up, and keeps the rest in its write-ahead log), the
# sinks and the moderation steps, db-service, PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

top=$(pwd)
run=${RUN_DIR:-$top/.run}
mkdir -p "$run"
run=$(cd "$run" && pwd)
bin=${BUILD_DIR:-$top/build}
case $bin in /*) ;; *) bin=$top/$bin ;; esac
# No PostgreSQL installed: find fails, and `set -e` must not end the script before start_pg
# says so.
pg_bin=${PG_BINDIR:-$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null |
	sort -V | tail -1 || true)}
[ -x "$pg_bin/initdb" ] || pg_bin=
pg_pass_file=$run/pg-password
BIND_ADDRESS=${BIND_ADDRESS:-127.0.0.1}

NODE_SERVER_PORT=${NODE_SERVER_PORT:-8080}
DB_SERVICE_PORT=${DB_SERVICE_PORT:-8081}
FILE_SINK_PORT=${FILE_SINK_PORT:-8082}
DEAD_LETTER_LOGGER_PORT=${DEAD_LETTER_LOGGER_PORT:-8083}
BROKER_PORT=${BROKER_PORT:-8084}
BAD_WORD_FILTER_PORT=${BAD_WORD_FILTER_PORT:-8085}
SENTIMENT_ANALYSIS_PORT=${SENTIMENT_ANALYSIS_PORT:-8086}
RUN_PG_PORT=${RUN_PG_PORT:-55432}

# Stop order; start order is the reverse (db-service first, node-server last).
SERVICES="node-server local-broker file-sink dead-letter-logger bad-word-filter"
SERVICES+=" sentiment-analysis db-service"

# PostgreSQL refuses to run as root: as root, it runs as the `postgres` system user.
pg_user=$(id -un)
as_pg() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
	pg_user=postgres
	as_pg() { runuser -u postgres -- "$@"; }
fi

say() { printf 'run: %s\n' "$*"; }

alive() { # pid: running (a zombie is not running)
	local state
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
	state=$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

wait_http() { # url seconds name pid
	local deadline=$((SECONDS + $2))
	until curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; do
		if ! alive "$4"; then
			say "$3 exited during start-up; the end of $run/logs/$3.log:"
			tail -n 5 "$run/logs/$3.log" >&2 || true
			return 1
		fi
		if [ $SECONDS -ge "$deadline" ]; then
			say "$3 did not become healthy at $1; see $run/logs/$3.log"
			return 1
		fi
		sleep 0.1
	done
}

# PostgreSQL's directory: .run/pg. As root, PostgreSQL runs as the postgres user, which cannot
# reach .run/ in a checkout under a private directory (/root, a 0700 home); then .run/pg is a
# link to a directory of this checkout's own under /var/tmp, and PostgreSQL is given that path.
pg_dir() {
	local alt
	mkdir -p "$run"
	[ -e "$run/pg" ] || mkdir -p "$run/pg"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres:postgres "$(readlink -f "$run/pg")"
		if ! runuser -u postgres -- test -w "$(readlink -f "$run/pg")"; then
			alt=/var/tmp/bookstore-pg-$(printf '%s' "$run" | md5sum | cut -c1-12)
			mkdir -p "$alt"
			chown postgres:postgres "$alt"
			chmod 0700 "$alt"
			rmdir "$run/pg" 2>/dev/null || rm -f "$run/pg"
			ln -s "$alt" "$run/pg"
			say "the postgres user cannot reach $run (a parent directory is private):" >&2
			say "PostgreSQL's files go to $alt ($run/pg links there)" >&2
		fi
	fi
	readlink -f "$run/pg"
}

# The password of PostgreSQL's postgres user: generated once, kept in .run/pg-password (0600).
pg_password() {
	if [ ! -s "$pg_pass_file" ]; then
		(umask 077 && od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$pg_pass_file")
	fi
	chmod 0600 "$pg_pass_file"
	cat "$pg_pass_file"
}

# The client authentication make run wants: the Unix socket for the server's own OS user
# (peer), and a password (scram-sha-256) over TCP on 127.0.0.1 / ::1. Never trust.
write_hba() { # data
	as_pg sh -c "cat >'$1/pg_hba.conf'" <<'HBA'
# Written by scripts/run.sh (make run).
local   all  all                 peer
host    all  all  127.0.0.1/32   scram-sha-256
host    all  all  ::1/128        scram-sha-256
HBA
}

start_pg() {
	local pg data sock pw
	if [ -z "$pg_bin" ]; then
		say "PostgreSQL is not installed (no initdb under ${PG_BINDIR:-/usr/lib/postgresql/*/bin}):"
		say "run 'make deps' (it installs Debian's postgresql) and try again"
		exit 1
	fi
	pg=$(pg_dir)
	data=$pg/data sock=$pg/sock
	mkdir -p "$sock"
	[ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$pg"
	pw=$(pg_password)
	if [ ! -s "$data/PG_VERSION" ]; then
		say "initdb (first run) into $data as $pg_user"
		# initdb reads the password from a file PostgreSQL's user can read: a copy in its own
		# directory, removed right after.
		(umask 077 && printf '%s\n' "$pw" >"$pg/pwfile")
		[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$pg/pwfile"
		as_pg "$pg_bin/initdb" -D "$data" -U postgres --auth-local=peer \
			--auth-host=scram-sha-256 --pwfile="$pg/pwfile" -E UTF8 --locale=C.UTF-8 \
			--no-instructions >"$run/logs/initdb.log" 2>&1 ||
			{ rm -f "$pg/pwfile"; say "initdb failed; see $run/logs/initdb.log"; exit 1; }
		rm -f "$pg/pwfile"
	fi
	as_pg "$pg_bin/pg_ctl" -D "$data" -l "$pg/postgresql.log" -w -t 30 \
		-o "-p $RUN_PG_PORT -k $sock -c listen_addresses=127.0.0.1" start >/dev/null ||
		{ say "PostgreSQL did not start; see $pg/postgresql.log"; exit 1; }
	if grep -Eq '^[^#]*[[:space:]]trust([[:space:]]|$)' "$data/pg_hba.conf"; then
		# A data directory from an older make run (--auth=trust): set the password, then
		# require it.
		say "PostgreSQL trusted every local connection: setting a password ($pg_pass_file)"
		as_pg "$pg_bin/psql" -h "$sock" -p "$RUN_PG_PORT" -U postgres -d postgres -qAtX \
			-c "ALTER ROLE postgres PASSWORD '$pw'" >/dev/null
		write_hba "$data"
		as_pg "$pg_bin/pg_ctl" -D "$data" reload >/dev/null
	fi
	PGPASSWORD=$pw "$pg_bin/psql" -h 127.0.0.1 -p "$RUN_PG_PORT" -U postgres -d postgres -qAtX \
		-c "SELECT 1 FROM pg_database WHERE datname = 'bookstore'" | grep -q 1 ||
		PGPASSWORD=$pw "$pg_bin/createdb" -h 127.0.0.1 -p "$RUN_PG_PORT" -U postgres bookstore
}

# Something already listening on port (another make run, another server answering /healthz)
# would answer our health checks in place of the service: refuse to start instead.
port_free() { # port variable
	if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
		say "port $1 ($2) is already in use by another process; stop it, or choose another"
		say "port with $2=<port>"
		exit 1
	fi
}

stop_pg() {
	local data
	data=$(readlink -f "$run/pg" 2>/dev/null)/data
	if [ -s "$data/postmaster.pid" ] && [ -n "$pg_bin" ]; then
		as_pg "$pg_bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
	fi
}

# One key of the Broker's delivery spec in k8s/base/eventing/broker.yaml (retry, backoffPolicy,
# backoffDelay), read from the file the cluster applies: node-server shows it on the page.
broker_delivery() { # key
	awk -v k="$1:" '/^kind: Broker/ { b = 1 } b && /^  delivery:/ { d = 1; next }
		b && d && /^  [^ ]/ { d = 0 } b && d && $1 == k { print $2; exit }' \
		"$top/k8s/base/eventing/broker.yaml"
}

start_service() { # name port env...
	local name=$1 port=$2 pid
	shift 2
	mkdir -p "$run/data/$name"
	[ -x "$bin/$name" ] || { say "$bin/$name is missing: run 'make' first"; exit 1; }
	# setsid: a session of its own, so a Ctrl-C in this terminal reaches only this script.
	env PORT="$port" BIND_ADDRESS="$BIND_ADDRESS" OTEL_SERVICE_NAME="$name" "$@" \
		setsid "$bin/$name" >>"$run/logs/$name.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$run/pids/$name"
	wait_http "http://127.0.0.1:$port/healthz" 30 "$name" "$pid"
	# /healthz answered: it must have been this process (it is still running).
	alive "$pid" || { say "$name exited during start-up; see $run/logs/$name.log"; exit 1; }
}

stop_one() { # name: SIGTERM, wait up to 20 s (the broker may drain for 5 s), then SIGKILL
	local name=$1 pid
	[ -f "$run/pids/$name" ] || return 0
	pid=$(cat "$run/pids/$name")
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 200); do alive "$pid" || break; sleep 0.1; done
		if alive "$pid"; then
			say "$name did not stop within 20 s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$run/pids/$name"
}

stop_services() {
	local name
	for name in $SERVICES; do stop_one "$name"; done
}

stopping=0
stop_all() {
	trap - EXIT
	trap "" INT TERM
	stopping=1
	say "stopping"
	stop_services
	stop_pg
	rm -f "$run/run.pid"
	say "stopped"
}

start() {
	mkdir -p "$run/logs" "$run/pids" "$run/data"
	if [ -f "$run/run.pid" ] && alive "$(cat "$run/run.pid")"; then
		say "already running (pid $(cat "$run/run.pid")); 'make stop' stops it"
		exit 1
	fi
	# Every port must be free before anything starts (the services' ports and PostgreSQL's).
	port_free "$DB_SERVICE_PORT" DB_SERVICE_PORT
	port_free "$FILE_SINK_PORT" FILE_SINK_PORT
	port_free "$DEAD_LETTER_LOGGER_PORT" DEAD_LETTER_LOGGER_PORT
	port_free "$BROKER_PORT" BROKER_PORT
	port_free "$BAD_WORD_FILTER_PORT" BAD_WORD_FILTER_PORT
	port_free "$SENTIMENT_ANALYSIS_PORT" SENTIMENT_ANALYSIS_PORT
	port_free "$NODE_SERVER_PORT" NODE_SERVER_PORT
	port_free "$RUN_PG_PORT" RUN_PG_PORT
	echo $$ >"$run/run.pid"
	trap 'exit 0' INT TERM
	trap stop_all EXIT

	start_pg
	local pw db_url
	pw=$(pg_password)
	db_url="postgresql://postgres:$pw@127.0.0.1:$RUN_PG_PORT/bookstore"
	local services="node-server=http://127.0.0.1:$NODE_SERVER_PORT"
	services+=",file-sink=http://127.0.0.1:$FILE_SINK_PORT"
	services+=",dead-letter-logger=http://127.0.0.1:$DEAD_LETTER_LOGGER_PORT"
	services+=",bad-word-filter=http://127.0.0.1:$BAD_WORD_FILTER_PORT"
	services+=",sentiment-analysis=http://127.0.0.1:$SENTIMENT_ANALYSIS_PORT"

	start_service db-service "$DB_SERVICE_PORT" DATABASE_URL="$db_url"
	# FAIL_EVERY=N (fail every Nth attempt) replaces FAILURE_RATE; file-sink refuses both.
	local failure="FAILURE_RATE=${FAILURE_RATE:-0.5}"
	[ -z "${FAIL_EVERY:-}" ] || failure="FAIL_EVERY=$FAIL_EVERY"
	# FAIL_FIRST=N also fails each event's first N attempts (FAIL_FIRST=2: two retries, saved).
	failure="$failure FAIL_FIRST=${FAIL_FIRST:-0}"
	# Both sinks report what they see to node-server for the page's journeys (best-effort;
	# node-server starts last, records sent before it listens are dropped).
	local journey="JOURNEY_URL=http://127.0.0.1:$NODE_SERVER_PORT/journey"
	# shellcheck disable=SC2086 # $failure is two NAME=value words
	start_service file-sink "$FILE_SINK_PORT" DATA_DIR="$run/data/file-sink" $failure \
		"$journey"
	start_service dead-letter-logger "$DEAD_LETTER_LOGGER_PORT" \
		DATA_DIR="$run/data/dead-letter-logger" "$journey"
	local sa_data=$top/services/sentiment-analysis/data
	# The Sequence's steps report each attempt with its result to the journeys too.
	start_service bad-word-filter "$BAD_WORD_FILTER_PORT" \
		BADWORDS_FILE="${BADWORDS_FILE:-$top/services/bad-word-filter/data/badwords.txt}" \
		"$journey"
	start_service sentiment-analysis "$SENTIMENT_ANALYSIS_PORT" \
		SENTIMENT_LEXICON_FILE="${SENTIMENT_LEXICON_FILE:-$sa_data/vader_lexicon.txt}" \
		SENTIMENT_EMOJI_FILE="${SENTIMENT_EMOJI_FILE:-$sa_data/emoji_names.tsv}" "$journey"
	start_service local-broker "$BROKER_PORT" DATA_DIR="$run/data/local-broker" \
		BROKER_MANIFESTS="$top/k8s/base/eventing" BROKER_SERVICES="$services"
	start_service node-server "$NODE_SERVER_PORT" \
		K_SINK="http://127.0.0.1:$BROKER_PORT/bookstore/bookstore-broker" \
		DB_SERVICE_URL="http://127.0.0.1:$DB_SERVICE_PORT" FRONTEND_DIR="$top/frontend-static" \
		DELIVERY_RETRY="$(broker_delivery retry)" \
		DELIVERY_BACKOFF_POLICY="$(broker_delivery backoffPolicy)" \
		DELIVERY_BACKOFF_DELAY="$(broker_delivery backoffDelay)" \
		TRACE_UI_URL="${TRACE_UI_URL:-}"

	cat <<MSG

  The bookstore is running.
    page:               http://127.0.0.1:$NODE_SERVER_PORT/
    file-sink log:      $run/data/file-sink/events.log
    dead letters:       $run/data/dead-letter-logger/events.log
    bad reviews:        $run/data/file-sink/bad-reviews.log
    process logs:       $run/logs/
    broker ingress:     http://127.0.0.1:$BROKER_PORT/bookstore/bookstore-broker
    broker metrics:     http://127.0.0.1:$BROKER_PORT/metrics
  Ctrl-C or 'make stop' stops everything. The walk-through is docs/demo.md.

MSG
	# Stay in the foreground until a service dies, Ctrl-C, or `make stop` (SIGTERM to us).
	# RUN_KEEP_GOING=1: a service that exits is reported, and the others keep running (the
	# fault tests kill one and start it again, writing its new pid into pids/<name>).
	local -A seen
	local name pid
	while true; do
		for name in $SERVICES; do
			pid=
			[ -f "$run/pids/$name" ] && { read -r pid <"$run/pids/$name" || true; }
			if [ "$stopping" -eq 0 ] && ! alive "$pid"; then
				if [ "${RUN_KEEP_GOING:-0}" != 1 ]; then
					say "$name exited; see $run/logs/$name.log"
					exit 1
				fi
				[ "${seen[$name]:-}" = "$pid" ] || say "$name (pid $pid) is not running"
				seen[$name]=$pid
			fi
		done
		sleep 1 &
		wait $! || true
	done
}

stop() {
	if [ -f "$run/run.pid" ] && alive "$(cat "$run/run.pid")"; then
		kill -TERM "$(cat "$run/run.pid")"
		for _ in $(seq 1 600); do
			[ -f "$run/run.pid" ] || { say "stopped"; return 0; }
			sleep 0.1
		done
		say "the supervisor did not finish within 60 s: stopping what it started"
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
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
