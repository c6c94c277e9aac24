#!/usr/bin/env bash
# Deploys the whole bookstore on minikube with one command: Knative Serving (Kourier) and
# Eventing (in-memory channel, MT broker) at pinned versions, the seven images built inside
# minikube's Docker, PostgreSQL, the six Knative Services, the Brokers, Triggers, Sequence and
# SinkBinding, and the observability stack (kube-prometheus-stack, OpenTelemetry Collector, Jaeger, Grafana
# dashboards, alert rules). A second run changes only what changed (kubectl apply, helm upgrade
# --install, merge patches). docs/deploy.md walks through it step by step.
#
#   ./solution.sh                 deploy (or update) everything
#   ./solution.sh --dry-run       print the plan and render every manifest; touches no cluster
#   ./solution.sh --no-monitoring skip kube-prometheus-stack, the collector, Jaeger and dashboards
#   ./solution.sh --teardown      delete what this script deployed (keeps Knative and minikube)
#   ./solution.sh logs [file-sink|dead-letter-logger]
#                                 print events.log of the sink's latest ready revision (both
#                                 sinks without an argument)
#   ./solution.sh --help
#
# Environment: MINIKUBE_PROFILE (bookstore), MINIKUBE_CPUS (4), MINIKUBE_MEMORY (8192, MiB),
# MINIKUBE_DRIVER (docker).
set -euo pipefail

# ---- pinned versions: change them here only ------------------------------------------------
# Knative: the newest release tag found for all three repositories, checked 2026-12-03 (see
# docs/deploy.md, "Pinned versions"). Knative 1.22 needs Kubernetes 1.34 or newer.
KUBERNETES_VERSION=v1.34.3
KNATIVE_SERVING_VERSION=knative-v1.22.1
KNATIVE_KOURIER_VERSION=knative-v1.22.1
KNATIVE_EVENTING_VERSION=knative-v1.22.2
KUBE_PROMETHEUS_STACK_VERSION=79.7.1
# The oldest kubectl whose kustomize (v5.0) renders k8s/ (labels, patches, ...).
KUBECTL_MIN_MINOR=27

# ---- settings --------------------------------------------------------------------------------
PROFILE=${MINIKUBE_PROFILE:-bookstore}
CPUS=${MINIKUBE_CPUS:-4}
MEMORY=${MINIKUBE_MEMORY:-8192}
DRIVER=${MINIKUBE_DRIVER:-docker}
NAMESPACE=bookstore
HELM_RELEASE=kube-prometheus-stack
HELM_NAMESPACE=monitoring
# Every image solution.sh builds (docker/Dockerfile targets), and the ones k8s/ deploys.
SERVICES=(node-server db-service file-sink dead-letter-logger bad-word-filter sentiment-analysis
	local-broker)
DEPLOYED=(node-server db-service file-sink dead-letter-logger bad-word-filter sentiment-analysis)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$ROOT/build/deploy
DRY_RUN=false
MONITORING=true
TEARDOWN=false
LOGS=
# The Knative deployments that read config-observability only when they start.
KNATIVE_OBSERVABILITY_NAMESPACES=(knative-serving knative-eventing)

usage() {
	cat <<EOF
Usage: ./solution.sh [--dry-run] [--no-monitoring] [--teardown] [--help]
       ./solution.sh logs [file-sink|dead-letter-logger]

Deploys the bookstore on minikube (profile "$PROFILE"): Knative Serving $KNATIVE_SERVING_VERSION
with Kourier $KNATIVE_KOURIER_VERSION, Knative Eventing $KNATIVE_EVENTING_VERSION (in-memory
channel, MT channel broker), the images built inside minikube's Docker and tagged with a hash
of their inputs (an unchanged service keeps its tag and its revision), PostgreSQL, the six
Knative Services, Brokers, Triggers, the Sequence, SinkBinding, and the observability stack
(kube-prometheus-stack chart $KUBE_PROMETHEUS_STACK_VERSION, OpenTelemetry Collector, Jaeger,
Grafana dashboards, alert rules). Safe to run again.

  --dry-run        print every step and render every manifest into build/deploy/ with
                   kubectl kustomize; needs no cluster, minikube, docker or helm
  --no-monitoring  skip the observability stack
  --teardown       delete the bookstore, observability and monitoring namespaces and the Helm
                   release, and reset Knative's config-observability (Knative and the minikube
                   profile stay; minikube delete -p $PROFILE removes everything)
  --help           this text
  logs [SINK]      print /data/events.log of file-sink and/or dead-letter-logger, from the Running
                   pod of the Service's latest ready revision

Environment: MINIKUBE_PROFILE, MINIKUBE_CPUS ($CPUS), MINIKUBE_MEMORY ($MEMORY MiB),
MINIKUBE_DRIVER ($DRIVER).
EOF
}

while [ $# -gt 0 ]; do
	case $1 in
	--dry-run) DRY_RUN=true ;;
	--no-monitoring) MONITORING=false ;;
	--teardown) TEARDOWN=true ;;
	logs)
		LOGS=file-sink,dead-letter-logger
		case ${2:-} in
		file-sink | dead-letter-logger)
			LOGS=$2
			shift
			;;
		'' | -*) ;;
		*)
			echo "solution.sh: logs takes file-sink or dead-letter-logger, not '$2'" >&2
			exit 2
			;;
		esac
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "solution.sh: unknown option '$1' (see --help)" >&2
		exit 2
		;;
	esac
	shift
done

cd "$ROOT"
mkdir -p "$OUT"

# ---- step runner -----------------------------------------------------------------------------
START=$SECONDS
STEP=0
TOTAL=0

# run CMD...: runs a command, or only prints it in a dry run.
run() {
	local arg
	if $DRY_RUN; then
		printf '    $'
		for arg in "$@"; do
			case $arg in
			*[!A-Za-z0-9_./:=,@%+-]* | '') printf ' %q' "$arg" ;;
			*) printf ' %s' "$arg" ;;
			esac
		done
		printf '\n'
	else
		"$@"
	fi
}

# step TITLE FUNCTION [ARGS...]: numbered, timed; the output goes to build/deploy/step-N.log and
# is shown only when the step fails, and then the script stops.
step() {
	local title=$1 t0=$SECONDS rc log
	shift
	STEP=$((STEP + 1))
	printf '==> [%d/%d] %s\n' "$STEP" "$TOTAL" "$title"
	if $DRY_RUN; then
		"$@"
		return
	fi
	log=$OUT/step-$STEP.log
	set +e
	(
		set -e
		"$@"
	) >"$log" 2>&1
	rc=$?
	set -e
	if [ $rc -ne 0 ]; then
		printf '!!! step %d (%s) failed (exit %d) after %ds; its output (%s):\n' \
			"$STEP" "$title" "$rc" $((SECONDS - t0)) "$log"
		tail -n 80 "$log" | sed 's/^/    /'
		exit 1
	fi
	printf '    ok in %ds (total %ds)\n' $((SECONDS - t0)) $((SECONDS - START))
}

# ---- helpers ---------------------------------------------------------------------------------
have() { command -v "$1" >/dev/null 2>&1; }

# The Dockerfile's default base image (DEBIAN_IMAGE overrides it).
DEBIAN_IMAGE=${DEBIAN_IMAGE:-$(sed -n 's/^ARG DEBIAN_IMAGE=//p' docker/Dockerfile | head -n 1)}

# image_tag SERVICE: a hash of what goes into that image (scripts/images.sh tag: the Dockerfile,
# the build files, common/, the service's own sources, the base image's name). An unchanged
# service keeps its tag, so Knative keeps its revision, and with it the sinks' events.log.
image_tag() { DEBIAN_IMAGE=$DEBIAN_IMAGE "$ROOT/scripts/images.sh" tag "$1"; }

declare -A TAGS=()
compute_tags() {
	local s
	for s in "${SERVICES[@]}"; do TAGS[$s]=$(image_tag "$s"); done
}

# 48 hex characters from the kernel's CSPRNG: no URL or shell escaping needed anywhere.
gen_password() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }

# render_app: the minikube overlay with each image's content tag, into $OUT/bookstore.yaml.
# With --no-monitoring there is no collector: every Knative Service gets OTEL_SDK_DISABLED=true,
# or each pod would resolve and retry a collector that does not exist, log it, and hold its
# stop for the export timeouts (30 s + 30 s) flushing to nowhere.
render_app() {
	local dir=$OUT/overlay s
	mkdir -p "$dir"
	{
		echo "# generated by solution.sh: k8s/overlays/minikube with the images' content tags"
		echo "apiVersion: kustomize.config.k8s.io/v1beta1"
		echo "kind: Kustomization"
		echo "resources:"
		echo "  - ../../../k8s/overlays/minikube"
		echo "images:"
		for s in "${DEPLOYED[@]}"; do
			printf '  - name: dev.local/%s\n    newTag: "%s"\n' "$s" "${TAGS[$s]}"
		done
		if ! $MONITORING; then
			echo "patches:"
			echo "  - target: {group: serving.knative.dev, kind: Service}"
			echo "    patch: |-"
			echo "      - op: add"
			echo "        path: /spec/template/spec/containers/0/env/-"
			echo "        value: {name: OTEL_SDK_DISABLED, value: \"true\"}"
		fi
	} >"$dir/kustomization.yaml"
	kubectl kustomize "$dir" >"$OUT/bookstore.yaml"
}

render_monitoring() { kubectl kustomize k8s/monitoring >"$OUT/monitoring.yaml"; }

# summarize FILE: one line per object (kind.group/name), plus the images it references.
summarize() {
	awk '
		/^---/ { kind = ""; group = ""; meta = 0; next }
		/^apiVersion: / { group = ($2 ~ /\//) ? "." substr($2, 1, index($2, "/") - 1) : "" }
		/^kind: / { kind = $2 }
		/^metadata:/ { meta = 1; next }
		/^[^ ]/ { meta = 0 }
		meta && /^  name: / && kind != "" { printf "      %s%s/%s\n", kind, group, $2; kind = "" }
		/^ +(- )?image: / { images[$NF] = 1 }
		END { for (i in images) printf "      image %s\n", i }
	' "$1"
}

ensure_namespace() {
	kubectl create namespace "$1" --dry-run=client -o yaml | kubectl apply -f -
}

# ensure_secret NAMESPACE NAME KEY=VALUE...: creates the Secret only when it is missing, from a
# private temporary file (so values never appear in a process list), and never prints it.
ensure_secret() {
	local ns=$1 name=$2 env
	shift 2
	if kubectl get secret "$name" -n "$ns" >/dev/null 2>&1; then
		echo "secret $ns/$name exists, kept"
		return
	fi
	env=$(umask 077 && mktemp)
	# Removed whether or not kubectl succeeds: under set -e a failing command would otherwise
	# leave the password behind in $TMPDIR.
	local rc=0
	printf '%s\n' "$@" >"$env" && kubectl create secret generic "$name" -n "$ns" \
		--from-env-file="$env" || rc=$?
	rm -f "$env"
	return $rc
}

# kubectl_minor: the minor version of the kubectl client (20 for v1.20.15), or nothing.
kubectl_minor() {
	kubectl version --client 2>/dev/null | grep -oE 'v1\.[0-9]+' | head -n 1 | cut -d. -f2
}

# check_kubectl: 0 when kubectl is new enough to render k8s/, else a clear message and 1.
check_kubectl() {
	local minor
	minor=$(kubectl_minor)
	if [ -n "$minor" ] && [ "$minor" -ge "$KUBECTL_MIN_MINOR" ]; then
		echo "    found kubectl 1.$minor (>= 1.$KUBECTL_MIN_MINOR)"
		return 0
	fi
	cat <<EOF
    TOO OLD kubectl ($(kubectl version --client 2>/dev/null | head -n 1)): k8s/ needs kubectl 1.$KUBECTL_MIN_MINOR or
    newer, whose kustomize (v5) knows the labels and patches fields. Debian 12's kubernetes-client
    is 1.20. Install the release matching the cluster:
      curl -LO https://dl.k8s.io/release/$KUBERNETES_VERSION/bin/linux/amd64/kubectl && sudo install kubectl /usr/local/bin/kubectl
    or put 'minikube kubectl --' in front of kubectl (minikube downloads $KUBERNETES_VERSION's).
EOF
	return 1
}

# ---- steps -----------------------------------------------------------------------------------
check_prerequisites() {
	local missing=0 tool hint
	for tool in minikube kubectl helm docker git; do
		case $tool in
		minikube) hint="https://minikube.sigs.k8s.io/docs/start/ (curl -LO https://storage.googleapis.com/minikube/releases/latest/minikube-linux-amd64 && sudo install minikube-linux-amd64 /usr/local/bin/minikube)" ;;
		kubectl) hint="curl -LO https://dl.k8s.io/release/$KUBERNETES_VERSION/bin/linux/amd64/kubectl && sudo install kubectl /usr/local/bin/kubectl (needs kubectl >= 1.$KUBECTL_MIN_MINOR; Debian 12's kubernetes-client is 1.20, too old)" ;;
		helm) hint="https://helm.sh/docs/intro/install/ (curl -fsSL https://raw.githubusercontent.com/helm/helm/main/scripts/get-helm-3 | bash)" ;;
		docker) hint="sudo apt-get install docker.io (with MINIKUBE_DRIVER=docker it runs minikube; images are built with minikube's daemon, through this CLI or minikube image build)" ;;
		git) hint="sudo apt-get install git" ;;
		esac
		if [ "$tool" = kubectl ] && have kubectl; then
			check_kubectl || missing=1
		elif have "$tool"; then
			echo "    found $tool"
		elif [ "$tool" = helm ] && ! $MONITORING; then
			echo "    helm not found (not needed with --no-monitoring)"
		else
			echo "    MISSING $tool: install it with: $hint"
			missing=1
		fi
	done
	if [ $missing -ne 0 ]; then
		if $DRY_RUN; then
			echo "    (dry run: continuing without them)"
		else
			return 1
		fi
	fi
}

start_cluster() {
	if $DRY_RUN; then
		echo "    if minikube profile $PROFILE is not running:"
	elif minikube status -p "$PROFILE" --format '{{.Host}}/{{.APIServer}}' 2>/dev/null |
		grep -q 'Running/Running'; then
		echo "minikube profile $PROFILE is running"
		run kubectl config use-context "$PROFILE"
		return
	fi
	run minikube start -p "$PROFILE" --driver="$DRIVER" --cpus="$CPUS" --memory="$MEMORY" \
		--kubernetes-version="$KUBERNETES_VERSION"
	run kubectl config use-context "$PROFILE"
}

wait_deployments() {
	run kubectl wait deployment --all -n "$1" --for=condition=Available --timeout=300s
}

install_knative() {
	local serving=https://github.com/knative/serving/releases/download/$KNATIVE_SERVING_VERSION
	local kourier=https://github.com/knative-extensions/net-kourier/releases/download/$KNATIVE_KOURIER_VERSION
	local eventing=https://github.com/knative/eventing/releases/download/$KNATIVE_EVENTING_VERSION
	local cm
	run kubectl apply -f "$serving/serving-crds.yaml" -f "$eventing/eventing-crds.yaml"
	run kubectl wait crd --for=condition=Established --timeout=120s \
		services.serving.knative.dev brokers.eventing.knative.dev \
		triggers.eventing.knative.dev sinkbindings.sources.knative.dev \
		sequences.flows.knative.dev
	run kubectl apply -f "$serving/serving-core.yaml"
	wait_deployments knative-serving
	# Kourier as the ingress, sslip.io names, no tag resolution for dev.local, emptyDir allowed
	for cm in config-network config-domain config-deployment config-features; do
		run kubectl patch configmap "$cm" -n knative-serving --type merge \
			--patch-file "k8s/knative/$cm.yaml"
	done
	run kubectl apply -f "$kourier/kourier.yaml"
	wait_deployments kourier-system
	run kubectl apply -f "$eventing/eventing-core.yaml"
	wait_deployments knative-eventing
	run kubectl apply -f "$eventing/in-memory-channel.yaml" -f "$eventing/mt-channel-broker.yaml"
	wait_deployments knative-eventing
}

# build_mode: how images get into minikube's daemon.
#   minikube  `minikube image build`: the docker CLI cannot talk to minikube's daemon (an old
#             CLI, e.g. Debian's 20.10 with API 1.41, is refused by a daemon that needs a newer
#             API), or there is no docker CLI at all
#   buildkit  docker build with BuildKit (the buildx plugin is there)
#   legacy    docker build with the legacy builder (DOCKER_BUILDKIT=0): no buildx, and CLIs
#             from 23.0 on refuse DOCKER_BUILDKIT=1 without it
build_mode() {
	local err
	if ! have docker; then
		echo "    no docker CLI: building with minikube image build" >&2
		echo minikube
	elif ! err=$(docker version --format '{{.Server.APIVersion}}' 2>&1 >/dev/null); then
		echo "    docker cannot use minikube's daemon ($(echo "$err" | head -n 1)): building with minikube image build" >&2
		echo minikube
	elif docker buildx version >/dev/null 2>&1; then
		echo buildkit
	else
		echo "    no docker buildx: building with the legacy builder (DOCKER_BUILDKIT=0)" >&2
		echo legacy
	fi
}

# image_exists MODE IMAGE: the image is in minikube's daemon already.
image_exists() {
	if [ "$1" = minikube ]; then
		minikube -p "$PROFILE" image ls 2>/dev/null | grep -qxE "(docker\.io/)?$2"
	else
		docker image inspect "$2" >/dev/null 2>&1
	fi
}

build_images() {
	local s mode tag
	if $DRY_RUN; then
		echo "    \$ eval \"\$(minikube -p $PROFILE docker-env --shell bash)\""
		echo "    then, by build_mode: docker build with BuildKit (buildx present), with the legacy"
		echo "    builder (no buildx), or minikube image build (the CLI cannot talk to the daemon);"
		echo "    an image whose tag exists already is kept:"
		mode=buildkit
	else
		eval "$(minikube -p "$PROFILE" docker-env --shell bash)"
		mode=$(build_mode)
	fi
	for s in "${SERVICES[@]}"; do
		tag=${TAGS[$s]}
		if ! $DRY_RUN && image_exists "$mode" "dev.local/$s:$tag"; then
			echo "dev.local/$s:$tag exists (nothing it is built from changed), kept"
			continue
		fi
		case $mode in
		minikube)
			run minikube -p "$PROFILE" image build -f docker/Dockerfile --build-opt="target=$s" \
				--build-opt="build-arg=DEBIAN_IMAGE=$DEBIAN_IMAGE" -t "dev.local/$s:$tag" .
			;;
		buildkit)
			run env DOCKER_BUILDKIT=1 docker build -f docker/Dockerfile --target "$s" \
				--build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" -t "dev.local/$s:$tag" .
			;;
		legacy)
			run env DOCKER_BUILDKIT=0 docker build -f docker/Dockerfile --target "$s" \
				--build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" -t "dev.local/$s:$tag" .
			;;
		esac
	done
	if ! $DRY_RUN; then
		minikube -p "$PROFILE" image ls --format table 2>/dev/null | grep 'dev.local/' || true
	fi
}

# restart_knative_observability: Knative's components read config-observability only when they
# start (eventing pkg/observability/otel/otel.go, serving's activator), so after the patch
# changed it, their pods restart; queue-proxy takes it from each new revision.
restart_knative_observability() {
	local ns
	for ns in "${KNATIVE_OBSERVABILITY_NAMESPACES[@]}"; do
		run kubectl rollout restart deployment -n "$ns"
		run kubectl rollout status deployment -n "$ns" --timeout=300s
	done
}

# patch_observability: merge-patches config-observability in both Knative namespaces; restarts
# the Knative pods when either patch changed something. Returns nothing to restart on a re-run.
patch_observability() {
	local cm out changed=false
	for cm in serving eventing; do
		if $DRY_RUN; then
			run kubectl patch configmap config-observability -n "knative-$cm" --type merge \
				--patch-file "k8s/knative/config-observability-$cm.yaml"
			changed=true
			continue
		fi
		out=$(kubectl patch configmap config-observability -n "knative-$cm" --type merge \
			--patch-file "k8s/knative/config-observability-$cm.yaml")
		echo "$out"
		case $out in *"(no change)"*) ;; *) changed=true ;; esac
	done
	if $changed; then
		$DRY_RUN && echo "    (only when a patch changed something:)"
		restart_knative_observability
	else
		echo "config-observability unchanged: Knative's pods keep running"
	fi
}

# reset_observability: the keys k8s/knative/config-observability-*.yaml set, back to Knative's
# defaults (a merge patch with null deletes a key), so nothing points at a deleted collector.
reset_observability() {
	local cm patch keys=()
	for cm in serving eventing; do
		mapfile -t keys < <(awk '/^data:/ { d = 1; next } d && /^  [a-z]/ { sub(":.*", "", $1); print $1 }' \
			"k8s/knative/config-observability-$cm.yaml")
		patch="{\"data\":{$(printf '"%s":null,' "${keys[@]}" | sed 's/,$//')}}"
		if $DRY_RUN || kubectl get namespace "knative-$cm" >/dev/null 2>&1; then
			run kubectl patch configmap config-observability -n "knative-$cm" --type merge -p "$patch"
		fi
	done
	if $DRY_RUN; then
		restart_knative_observability
	else
		for cm in "${KNATIVE_OBSERVABILITY_NAMESPACES[@]}"; do
			kubectl get namespace "$cm" >/dev/null 2>&1 || continue
			run kubectl rollout restart deployment -n "$cm"
		done
	fi
}

deploy_monitoring() {
	run helm repo add prometheus-community https://prometheus-community.github.io/helm-charts \
		--force-update
	run helm repo update prometheus-community
	if $DRY_RUN; then
		echo "    (namespace $HELM_NAMESPACE; Secret grafana-admin generated when missing)"
	else
		ensure_namespace "$HELM_NAMESPACE"
		ensure_secret "$HELM_NAMESPACE" grafana-admin admin-user=admin \
			"admin-password=$(gen_password)"
	fi
	run helm upgrade --install "$HELM_RELEASE" prometheus-community/kube-prometheus-stack \
		--version "$KUBE_PROMETHEUS_STACK_VERSION" --namespace "$HELM_NAMESPACE" \
		--values k8s/helm/kube-prometheus-stack-values.yaml --wait --timeout 15m
	render_monitoring
	echo "    rendered k8s/monitoring -> build/deploy/monitoring.yaml:"
	summarize "$OUT/monitoring.yaml"
	run kubectl apply -f "$OUT/monitoring.yaml"
	patch_observability
}

deploy_app() {
	render_app
	echo "    rendered k8s/overlays/minikube (content tags) -> build/deploy/bookstore.yaml:"
	summarize "$OUT/bookstore.yaml"
	if $DRY_RUN; then
		echo "    (namespace $NAMESPACE; Secret postgresql-secret generated when missing)"
	else
		ensure_namespace "$NAMESPACE"
		ensure_secret "$NAMESPACE" postgresql-secret POSTGRES_USER=bookstore \
			POSTGRES_DB=bookstore "POSTGRES_PASSWORD=$(gen_password)"
	fi
	run kubectl apply -f "$OUT/bookstore.yaml"
}

wait_ready() {
	run kubectl rollout status statefulset/postgresql -n "$NAMESPACE" --timeout=300s
	run kubectl wait ksvc --all -n "$NAMESPACE" --for=condition=Ready --timeout=300s
	run kubectl wait broker,trigger,sequence,sinkbinding --all -n "$NAMESPACE" \
		--for=condition=Ready --timeout=300s
	if $MONITORING; then
		wait_deployments observability
	fi
}

# Each pod as "name deletionTimestamp"; a pod that is not terminating has no second field
# (kubectl's JSONPath has no negation, so awk picks it).
POD_JSONPATH='{range .items[*]}{.metadata.name}{" "}{.metadata.deletionTimestamp}{"\n"}{end}'

# pod_selector SINK: a shell command printing the name of the Running, not terminating pod of
# the Service's latest ready revision (during a rollout the old revision's pod is Terminating
# and still Running).
pod_selector() {
	printf '%s' "kubectl get pod -n $NAMESPACE -l serving.knative.dev/revision=\$(kubectl get ksvc $1 -n $NAMESPACE -o jsonpath='{.status.latestReadyRevisionName}') --field-selector=status.phase=Running -o jsonpath='$POD_JSONPATH' | awk 'NF == 1 { print \$1; exit }'"
}

# exec_line SINK: the kubectl exec line that prints the sink's events.log.
exec_line() {
	# shellcheck disable=SC2016 # the $( ) is for the user's shell
	printf 'kubectl exec -n %s -c %s "$(%s)" -- cat /data/events.log' "$NAMESPACE" "$1" "$(pod_selector "$1")"
}

# show_logs SINK...: ./solution.sh logs: events.log of each sink, from its current pod.
show_logs() {
	local s rev pod
	for s in "$@"; do
		if $DRY_RUN; then
			echo "==> $s"
			echo "    \$ $(exec_line "$s")"
			continue
		fi
		rev=$(kubectl get ksvc "$s" -n "$NAMESPACE" -o jsonpath='{.status.latestReadyRevisionName}') || return 1
		pod=$(kubectl get pod -n "$NAMESPACE" -l "serving.knative.dev/revision=$rev" \
			--field-selector=status.phase=Running -o jsonpath="$POD_JSONPATH" |
			awk 'NF == 1 { print $1; exit }')
		if [ -z "$pod" ]; then
			echo "solution.sh: $s: no Running pod of revision $rev" >&2
			return 1
		fi
		echo "==> $s: $NAMESPACE/$pod (revision $rev) /data/events.log" >&2
		kubectl exec -n "$NAMESPACE" -c "$s" "$pod" -- cat /data/events.log
	done
}

print_access() {
	local host=127.0.0.1.sslip.io
	cat <<EOF

The bookstore is deployed (images: $(for s in "${DEPLOYED[@]}"; do printf 'dev.local/%s:%s ' "$s" "${TAGS[$s]}"; done | sed 's/ $//')).

Page: forward Kourier, then open the URL (sslip.io resolves it to 127.0.0.1):
    kubectl port-forward -n kourier-system svc/kourier 8080:80
    http://node-server.$NAMESPACE.$host:8080/

events.log of file-sink and of dead-letter-logger (from the latest ready revision's pod):
    ./solution.sh logs file-sink
    ./solution.sh logs dead-letter-logger
or with kubectl alone:
$(for s in file-sink dead-letter-logger; do printf '    %s\n' "$(exec_line "$s")"; done)
EOF
	if $MONITORING; then
		cat <<EOF

Grafana (user admin; dashboards "Bookstore events" and "Services"):
    kubectl port-forward -n $HELM_NAMESPACE svc/$HELM_RELEASE-grafana 3000:80
    http://localhost:3000/
    password: kubectl get secret -n $HELM_NAMESPACE grafana-admin -o jsonpath='{.data.admin-password}' | base64 -d; echo
Jaeger (the dashboards' trace links expect it on localhost:16686):
    kubectl port-forward -n observability svc/jaeger 16686:16686
    http://localhost:16686/
Prometheus (alerts: Status > Rules):
    kubectl port-forward -n $HELM_NAMESPACE svc/$HELM_RELEASE-prometheus 9090:9090
    http://localhost:9090/
EOF
	fi
}

teardown() {
	reset_observability
	run kubectl delete namespace "$NAMESPACE" observability --ignore-not-found --wait=true
	if have helm || $DRY_RUN; then
		run helm uninstall "$HELM_RELEASE" --namespace "$HELM_NAMESPACE" --ignore-not-found
	fi
	run kubectl delete namespace "$HELM_NAMESPACE" --ignore-not-found --wait=true
	echo "    Knative and the minikube profile stay; remove everything with: minikube delete -p $PROFILE"
}

# ---- main ------------------------------------------------------------------------------------
main() {
	if $DRY_RUN; then
		echo "solution.sh: dry run: nothing below is executed; manifests are rendered into build/deploy/"
	fi

	if [ -n "$LOGS" ]; then
		local sinks
		IFS=, read -ra sinks <<<"$LOGS"
		show_logs "${sinks[@]}"
		exit
	fi

	if $TEARDOWN; then
		TOTAL=1
		step "Delete the bookstore (namespaces $NAMESPACE, observability, $HELM_NAMESPACE) and reset config-observability" teardown
		exit 0
	fi

	if $DRY_RUN && ! { have kubectl && check_kubectl >/dev/null; }; then
		echo "solution.sh: kubectl is missing or older than 1.$KUBECTL_MIN_MINOR, so manifests cannot be rendered; the plan only" >&2
		render_app() {
			echo "    (kubectl missing or too old: not rendered)"
			: >"$OUT/bookstore.yaml"
		}
		render_monitoring() { : >"$OUT/monitoring.yaml"; }
	fi

	compute_tags
	TOTAL=7
	$MONITORING && TOTAL=8
	step "Check prerequisites" check_prerequisites
	step "Start minikube profile $PROFILE (${CPUS} CPUs, ${MEMORY} MiB, Kubernetes $KUBERNETES_VERSION)" \
		start_cluster
	step "Install Knative Serving $KNATIVE_SERVING_VERSION + Kourier, Eventing $KNATIVE_EVENTING_VERSION + IMC + MT broker" \
		install_knative
	step "Build ${#SERVICES[@]} images in minikube's Docker, tagged by content ($(for s in "${SERVICES[@]}"; do printf '%s:%s ' "$s" "${TAGS[$s]}"; done | sed 's/ $//'))" build_images
	if $MONITORING; then
		step "Deploy the observability stack (kube-prometheus-stack $KUBE_PROMETHEUS_STACK_VERSION, collector, Jaeger, dashboards, rules)" \
			deploy_monitoring
	fi
	step "Deploy PostgreSQL, the services, Brokers, Triggers, Sequence and SinkBinding" deploy_app
	step "Wait until everything is ready" wait_ready
	STEP=$((STEP + 1))
	printf '==> [%d/%d] %s\n' "$STEP" "$TOTAL" "How to open it"
	print_access
	printf 'solution.sh: %s in %ds\n' "$($DRY_RUN && echo 'dry run finished' || echo 'done')" \
		$((SECONDS - START))
}

# Sourced (the offline tests call single functions), it only defines them.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main
fi
