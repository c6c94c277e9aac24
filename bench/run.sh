#!/usr/bin/env bash
# make bench: builds the three C helpers under bench/c/ into $BENCH_BUILD_DIR/bench/bin and runs
# bench/run.mjs against the release binaries in $BENCH_BUILD_DIR (default build/, what `make`
# builds). Results: printed, and written to $BENCH_BUILD_DIR/bench/results.md.
#
#   bench/run.sh                 every group
#   bench/run.sh bookstore ws    only some groups (bookstore rss coldstart ws delivery tracing
#                                moderation images)
set -euo pipefail
cd "$(dirname "$0")/.."

export BENCH_BUILD_DIR=${BENCH_BUILD_DIR:-build}
export BUILD_DIR=$BENCH_BUILD_DIR # read by tests/integration/lib/proc.mjs
command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

# 1,000 WebSocket clients and as many server sockets, plus wrk's connections.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

bin=$BENCH_BUILD_DIR/bench/bin
mkdir -p "$bin"
cflags=(-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -Wall -Wextra -Wpedantic
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2 -Werror
	-include common/banned.h)
for tool in sink202 coldstart bare; do
	libs=()
	[ "$tool" = bare ] && read -r -a libs <<<"-pthread $(pkg-config --cflags --libs libmicrohttpd)"
	if [ ! -x "$bin/$tool" ] || [ "bench/c/$tool.c" -nt "$bin/$tool" ]; then
		echo "    CC $bin/$tool"
		${CC:-cc} "${cflags[@]}" -Icommon/include -o "$bin/$tool" "bench/c/$tool.c" "${libs[@]}"
	fi
done

exec node bench/run.mjs "$@"
