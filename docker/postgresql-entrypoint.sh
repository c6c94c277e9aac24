#!/bin/sh
# docker/postgresql.Dockerfile's entrypoint: initdb on the first start, then PostgreSQL in the
# foreground (it stops cleanly on SIGTERM, the signal `docker stop` sends). Connections over the
# socket and from 127.0.0.1 are trusted; from the container's own networks (samenet) they need
# $POSTGRES_PASSWORD (scram-sha-256), as on the cluster. Without it they are trusted too.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	pw=/tmp/pgpass.$$
	umask 077
	printf '%s\n' "${POSTGRES_PASSWORD:-unused}" >"$pw"
	initdb -D "$PGDATA" -U postgres --auth=trust --pwfile="$pw" -E UTF8 --locale=C.UTF-8 \
		--no-instructions >/dev/null
	rm -f "$pw"
	method=scram-sha-256
	[ -n "${POSTGRES_PASSWORD:-}" ] || method=trust
	echo "host all all samenet $method" >>"$PGDATA/pg_hba.conf"
	echo "CREATE DATABASE \"$POSTGRES_DB\"" | postgres --single -D "$PGDATA" postgres >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses="$PG_LISTEN" -p "$PGPORT" \
	-k /var/run/postgresql -c fsync=off "$@"
