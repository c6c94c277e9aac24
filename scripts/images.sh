#!/usr/bin/env bash
# make images: the seven service images from docker/Dockerfile, and the PostgreSQL image the
# container test runs, with the Docker engine of this machine. No image is pulled: the Debian
# base image is made locally with debootstrap (minbase, bookworm) from this machine's own Debian
# mirror, then `docker import`ed, and reused while it exists.
#
#   scripts/images.sh [build]    base image when missing, then all images; prints their sizes
#                                against the 30 MB target of a service image (fails when over)
#   scripts/images.sh sizes      only the sizes of the images built last (the :local tags)
#   scripts/images.sh base       only the base image
#   scripts/images.sh tag SVC    the content tag of one image (see below), without building
#   scripts/images.sh list       "image:tag" of every image `build` makes, one a line
#   scripts/images.sh buildkit SVC   build one target with BuildKit instead (exit 3: no CLI here
#                                can drive BuildKit), to show the Dockerfile works with both
#
# Tags: every image is tagged dev.local/<service>:<tag>, where <tag> is the first 12 hex digits
# of a sha256 over the files that go into it (docker/Dockerfile, .dockerignore, Makefile, mk/,
# common/, services/<service>/, and frontend-static/ for node-server, k8s/base/eventing/ for
# local-broker) and the base image's name. An unchanged service keeps its tag (and on Knative
# its revision); solution.sh uses the same tags. Each image is also tagged dev.local/<svc>:local.
#
# Environment:
#   DEBIAN_IMAGE   base image name (default bookstore.local/debian:bookworm-minbase, made here)
#   DEBIAN_MIRROR  mirror for debootstrap and apt in the images (default: the first
#                  deb.debian.org-style URI of this machine's /etc/apt/sources.list*)
#   DOCKER         the docker CLI (default docker)
# Needs root (or docker-group membership) and, for the base image, debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SERVICES=(node-server db-service file-sink dead-letter-logger bad-word-filter sentiment-analysis
	local-broker)
DEBIAN_IMAGE=${DEBIAN_IMAGE:-bookstore.local/debian:bookworm-minbase}
PG_IMAGE=dev.local/postgresql-15
TARGET_MB=30 # issue 14: each service image at most 30 MB (docker image inspect's Size)
DOCKER=${DOCKER:-docker}
SUITE=bookworm

say() { printf 'images: %s\n' "$*"; }

# The files that go into one service's image, relative to the repository root.
inputs() {
	local s=$1
	printf '%s\n' docker/Dockerfile .dockerignore Makefile mk common "services/$s"
	case $s in
	node-server) echo frontend-static ;;
	local-broker) echo k8s/base/eventing ;;
	postgresql-15) printf '%s\n' docker/postgresql.Dockerfile ;;
	esac
}

# tag SERVICE: 12 hex digits of a sha256 over the names and contents of its inputs (tracked and
# untracked-but-not-ignored files, so uncommitted edits count) and the base image's name.
tag() {
	local s=$1 list
	if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		# shellcheck disable=SC2046
		list=$(git -C "$ROOT" ls-files -co --exclude-standard -- $(inputs "$s")) # sorted by git
	else
		# shellcheck disable=SC2046
		list=$(find $(inputs "$s") -type f 2>/dev/null | LC_ALL=C sort)
	fi
	{
		echo "base $DEBIAN_IMAGE"
		[ -z "$list" ] || (cd "$ROOT" && tr '\n' '\0' <<<"$list" | xargs -0 sha256sum)
	} | sha256sum | cut -c1-12
}

# The mirror this machine's apt uses for Debian, so apt inside the images reaches the same place.
host_mirror() {
	local uri
	uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
		/etc/apt/sources.list.d/*.list 2>/dev/null |
		grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n 1 | tr -d ' ')
	echo "${uri:-http://deb.debian.org/debian}"
}

ensure_engine() {
	if ! "$ROOT/scripts/dockerd.sh"; then
		say "no Docker engine: cannot build images" >&2
		exit 1
	fi
}

build_base() {
	local mirror dir t0=$SECONDS f security
	if "$DOCKER" image inspect "$DEBIAN_IMAGE" >/dev/null 2>&1; then
		say "base image $DEBIAN_IMAGE exists, kept"
		return
	fi
	command -v debootstrap >/dev/null || {
		say "debootstrap is missing (make deps installs it)" >&2
		exit 1
	}
	[ "$(id -u)" -eq 0 ] || {
		say "making the base image needs root (debootstrap)" >&2
		exit 1
	}
	mirror=${DEBIAN_MIRROR:-$(host_mirror)}
	mirror=${mirror%/}
	security=${mirror%/debian}/debian-security
	dir=$(mktemp -d /var/tmp/bookstore-rootfs.XXXXXX)
	# shellcheck disable=SC2064
	trap "rm -rf '$dir'" EXIT
	say "debootstrap --variant=minbase $SUITE from $mirror (log: build/images/debootstrap.log)"
	mkdir -p build/images
	if ! debootstrap --variant=minbase "$SUITE" "$dir" "$mirror" >build/images/debootstrap.log 2>&1; then
		tail -n 20 build/images/debootstrap.log >&2
		exit 1
	fi
	cat >"$dir/etc/apt/sources.list" <<EOF
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb $security $SUITE-security main
EOF
	# This machine's Acquire:: settings (proxy, snapshot validity) apply inside the images too.
	for f in /etc/apt/apt.conf.d/*; do
		[ -f "$f" ] && grep -qE '^[[:space:]]*Acquire::' "$f" && cp "$f" "$dir/etc/apt/apt.conf.d/"
	done
	# As in Debian's docker images: apt keeps no downloaded .deb files and no caches.
	cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'CLEAN'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CLEAN
	# As in Debian's -slim images: no documentation, manuals or translations.
	cat >"$dir/etc/dpkg/dpkg.cfg.d/bookstore-nodoc" <<EOF
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
	find "$dir/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
	rm -rf "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/* \
		"$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
		"$dir"/var/log/*.log "$dir"/var/log/apt/*
	tar -C "$dir" --numeric-owner -c . | "$DOCKER" import \
		-c 'CMD ["/bin/bash"]' -c 'ENV LANG=C.UTF-8' - "$DEBIAN_IMAGE" >/dev/null
	rm -rf "$dir"
	trap - EXIT
	say "base image $DEBIAN_IMAGE made in $((SECONDS - t0))s"
}

# docker build with the legacy builder (no buildx needed) on the host network, where apt
# reaches this machine's mirror.
dbuild() {
	DOCKER_BUILDKIT=0 "$DOCKER" build --network host --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" "$@"
}

build_all() {
	local s t t0=$SECONDS log=build/images/build.log
	mkdir -p build/images
	: >"$log"
	for s in "${SERVICES[@]}"; do
		t=$(tag "$s")
		say "dev.local/$s:$t"
		if ! dbuild -f docker/Dockerfile --target "$s" -t "dev.local/$s:$t" -t "dev.local/$s:local" . >>"$log" 2>&1; then
			tail -n 40 "$log" >&2
			say "building $s failed; the whole output is $log" >&2
			exit 1
		fi
	done
	t=$(tag postgresql-15)
	say "$PG_IMAGE:$t"
	if ! dbuild -f docker/postgresql.Dockerfile -t "$PG_IMAGE:$t" -t "$PG_IMAGE:local" docker >>"$log" 2>&1; then
		tail -n 40 "$log" >&2
		say "building postgresql-15 failed; the whole output is $log" >&2
		exit 1
	fi
	# Older content tags of these images are dropped (their layers mostly stay, shared).
	for s in "${SERVICES[@]}" postgresql-15; do
		t=$(tag "$s")
		"$DOCKER" image ls "dev.local/$s" --format '{{.Repository}}:{{.Tag}}' |
			grep -vE ":($t|local|buildkit)\$" | xargs -r "$DOCKER" rmi >/dev/null 2>&1 || true
	done
	say "built in $((SECONDS - t0))s (log: $log); sizes (docker image inspect, MB = 10^6 bytes):"
	sizes
}

# sizes: each image's size as `docker image inspect` reports it (MB = 10^6 bytes), against
# issue 14's target for a service image (TARGET_MB; the test-only PostgreSQL image and the base
# are not service images). Returns 1 when a service image is over it.
sizes() {
	local s ref bytes mb verdict over=0
	for s in "${SERVICES[@]}" postgresql-15 base; do
		case $s in
		postgresql-15) ref=$PG_IMAGE:local ;;
		base) ref=$DEBIAN_IMAGE ;;
		*) ref=dev.local/$s:local ;;
		esac
		if ! bytes=$("$DOCKER" image inspect -f '{{.Size}}' "$ref" 2>/dev/null); then
			printf '    %-42s not built\n' "$ref"
			continue
		fi
		mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
		case $s in
		postgresql-15 | base) verdict="not a service image (no target)" ;;
		*)
			if [ "$bytes" -le $((TARGET_MB * 1000000)) ]; then
				verdict="ok, target <= $TARGET_MB MB"
			else
				verdict="OVER the target of $TARGET_MB MB"
				over=1
			fi
			;;
		esac
		printf '    %-42s %6s MB  %s\n' "$ref" "$mb" "$verdict"
	done
	return $over
}

# buildkit_cli: a docker CLI that can build with BuildKit: one with the buildx plugin, or a CLI
# older than 23.0 (Debian's docker.io 20.10), which drives the daemon's built-in BuildKit itself.
# CLIs from 23.0 on refuse DOCKER_BUILDKIT=1 without buildx.
buildkit_cli() {
	local c v
	for c in "$DOCKER" $(type -ap docker); do
		if "$c" buildx version >/dev/null 2>&1; then
			echo "$c"
			return
		fi
		v=$("$c" version --format '{{.Client.Version}}' 2>/dev/null) || continue
		if [ "${v%%.*}" -lt 23 ] 2>/dev/null; then
			echo "$c"
			return
		fi
	done
	return 1
}

# buildkit SERVICE: builds one target with BuildKit (the Dockerfile must work with both
# builders); exits 3 when no CLI here can drive BuildKit.
build_buildkit() {
	local s=$1 cli
	if ! cli=$(buildkit_cli); then
		say "no docker CLI here can use BuildKit (no buildx plugin, and every CLI is 23.0 or newer)" >&2
		exit 3
	fi
	say "BuildKit build of $s with $cli ($("$cli" version --format '{{.Client.Version}}'))" >&2
	mkdir -p build/images
	if ! DOCKER_BUILDKIT=1 "$cli" build --network host --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" \
		-f docker/Dockerfile --target "$s" -t "dev.local/$s:buildkit" . >build/images/buildkit.log 2>&1; then
		tail -n 40 build/images/buildkit.log >&2
		exit 1
	fi
	echo "dev.local/$s:buildkit"
}

case ${1:-build} in
buildkit)
	[ $# -eq 2 ] || {
		echo "usage: $0 buildkit SERVICE" >&2
		exit 2
	}
	ensure_engine >&2
	build_base >&2
	build_buildkit "$2"
	;;
build)
	ensure_engine
	build_base
	build_all
	;;
base)
	ensure_engine
	build_base
	;;
sizes)
	sizes
	;;
tag)
	[ $# -eq 2 ] || {
		echo "usage: $0 tag SERVICE" >&2
		exit 2
	}
	tag "$2"
	;;
list)
	for s in "${SERVICES[@]}" postgresql-15; do
		[ "$s" = postgresql-15 ] && echo "$PG_IMAGE:$(tag "$s")" || echo "dev.local/$s:$(tag "$s")"
	done
	;;
*)
	echo "usage: $0 [build|base|sizes|tag SERVICE|list|buildkit SERVICE]" >&2
	exit 2
	;;
esac
