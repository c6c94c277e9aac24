#!/bin/sh
# docker/postgresql.Dockerfile's entrypoint: initdb on the first start, then PostgreSQL in the
# foreground (it stops cleanly on SIGTERM, the signal `docker stop` sends).
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	initdb -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-instructions >/dev/null
	echo "CREATE DATABASE \"$POSTGRES_DB\"" | postgres --single -D "$PGDATA" postgres >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses="$PG_LISTEN" -p "$PGPORT" \
	-k /var/run/postgresql -c fsync=off "$@"
