#!/usr/bin/env bash
# Installs everything the build, the tests, the benchmarks and `make run` need on a fresh
# Debian 12 machine. Run as root. Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
	# build
	build-essential pkg-config clang-14 clang libclang-rt-14-dev
	libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libpq-dev
	libprotobuf-c-dev protobuf-c-compiler libyaml-dev uuid-dev
	# tests and checks
	libcriterion-dev clang-tidy cppcheck clang-format valgrind
	prometheus chromium curl procps shellcheck
	# local run and benchmarks
	postgresql wrk
	# make images and the container test: the base image is made with debootstrap
	debootstrap
)

missing=()
# Node.js comes with the machine image (with npm); Debian's own is the fallback.
command -v node >/dev/null || packages+=(nodejs npm)
# kubectl (with kustomize) renders k8s/ offline; Debian's kubernetes-client is the fallback.
command -v kubectl >/dev/null || packages+=(kubernetes-client)
# The Docker engine (dockerd) for make images and the container test: Debian's docker.io, unless
# an engine is installed already (Docker's own docker-ce conflicts with docker.io).
command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] || packages+=(docker.io)
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: need root to install: ${missing[*]}" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages for the tests, pinned by package-lock.json.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	npm ci --no-audit --no-fund --loglevel=error
fi
echo "deps: ok"
