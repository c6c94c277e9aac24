#!/usr/bin/env bash
# Makes sure a Docker engine answers, for `make images`, the container test and .ci/run.
# Machines without systemd (CI containers, sandboxes) have dockerd installed but not running:
# this starts it in the background, logging to $DOCKERD_LOG, and waits for it with a deadline.
#
#   scripts/dockerd.sh          exit 0 when `docker info` answers (starting dockerd if needed)
#
# Environment: DOCKERD_LOG (/var/log/bookstore-dockerd.log), DOCKERD_WAIT (seconds, 60).
# Prints why when it cannot (not root, no dockerd, the engine did not answer) and exits 1.
set -euo pipefail

LOG=${DOCKERD_LOG:-/var/log/bookstore-dockerd.log}
WAIT=${DOCKERD_WAIT:-60}

# Debian's docker.io CLI matches Debian's daemon; a newer CLI elsewhere on PATH negotiates down.
DOCKER=${DOCKER:-docker}

if "$DOCKER" info >/dev/null 2>&1; then
	exit 0
fi
if ! command -v dockerd >/dev/null 2>&1 && [ ! -x /usr/sbin/dockerd ]; then
	echo "dockerd.sh: no dockerd; install Debian's docker.io (make deps does)" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "dockerd.sh: the Docker engine is not running and starting it needs root" >&2
	exit 1
fi
if [ -S /var/run/docker.sock ] && ! pgrep -x dockerd >/dev/null; then
	rm -f /var/run/docker.sock # left by a dockerd that died
fi
if ! pgrep -x dockerd >/dev/null; then
	echo "dockerd.sh: starting dockerd (log: $LOG)"
	mkdir -p "$(dirname "$LOG")"
	# setsid: the engine outlives this script and the make that ran it.
	PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH setsid dockerd >>"$LOG" 2>&1 </dev/null &
fi
deadline=$((SECONDS + WAIT))
until "$DOCKER" info >/dev/null 2>&1; do
	if [ $SECONDS -ge $deadline ]; then
		echo "dockerd.sh: the Docker engine did not answer within ${WAIT}s; the end of $LOG:" >&2
		tail -n 20 "$LOG" >&2 || true
		exit 1
	fi
	if ! pgrep -x dockerd >/dev/null; then
		echo "dockerd.sh: dockerd exited; the end of $LOG:" >&2
		tail -n 20 "$LOG" >&2 || true
		exit 1
	fi
	sleep 0.5
done
echo "dockerd.sh: engine $("$DOCKER" version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
