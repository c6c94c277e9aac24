# PostgreSQL 15 from Debian's postgresql-15, for the container test (tests/integration/
# containers.test.mjs); the cluster runs the upstream postgres image (k8s/base/postgresql).
# Built by `make images` (scripts/images.sh) with the context docker/:
#
#   docker build -f docker/postgresql.Dockerfile --build-arg DEBIAN_IMAGE=... -t dev.local/postgresql-15 docker
#
# Runs read-only as postgres (uid 999): the data directory /var/lib/postgresql and the socket
# directory /var/run/postgresql are tmpfs mounts (--tmpfs ...:uid=999,gid=999). On the first start
# it runs initdb (trust authentication: a test database, never exposed beyond 127.0.0.1) and
# creates the database $POSTGRES_DB; it listens on $PGPORT (5432) at $PG_LISTEN (127.0.0.1).
ARG DEBIAN_IMAGE=debian:12.11-slim
FROM ${DEBIAN_IMAGE}
RUN groupadd -r -g 999 postgres \
	&& useradd -r -u 999 -g postgres -d /var/lib/postgresql -s /bin/sh postgres \
	&& apt-get update \
	&& DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
	&& apt-get clean \
	&& rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/dpkg.log /var/log/apt \
		/var/lib/postgresql/* /etc/postgresql
COPY postgresql-entrypoint.sh /usr/local/bin/postgresql-entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
	PGDATA=/var/lib/postgresql/data \
	PGPORT=5432 \
	PG_LISTEN=127.0.0.1 \
	POSTGRES_DB=bookstore \
	LANG=C.UTF-8
USER 999:999
ENTRYPOINT ["/usr/local/bin/postgresql-entrypoint"]
