#!/usr/bin/env bash
# Deploys the whole bookstore on minikube with one command: Knative Serving (Kourier) and
# Eventing (in-memory channel, MT broker) at pinned versions, the five images built inside
# minikube's Docker, PostgreSQL, the four Knative Services, the Broker, Triggers and SinkBinding,
# and the observability stack (kube-prometheus-stack, OpenTelemetry Collector, Jaeger, Grafana
# dashboards, alert rules). A second run changes only what changed (kubectl apply, helm upgrade
# --install, merge patches). docs/deploy.md walks through it step by step.
#
#   ./solution.sh                 deploy (or update) everything
#   ./solution.sh --dry-run       print the plan and render every manifest; touches no cluster
#   ./solution.sh --no-monitoring skip kube-prometheus-stack, the collector, Jaeger and dashboards
#   ./solution.sh --teardown      delete what this script deployed (keeps Knative and minikube)
#   ./solution.sh --help
#
# Environment: MINIKUBE_PROFILE (bookstore), MINIKUBE_CPUS (4), MINIKUBE_MEMORY (8192, MiB),
# MINIKUBE_DRIVER (docker).
set -euo pipefail

# ---- pinned versions: change them here only ------------------------------------------------
KUBERNETES_VERSION=v1.33.1
KNATIVE_SERVING_VERSION=knative-v1.21.0
KNATIVE_KOURIER_VERSION=knative-v1.21.0
KNATIVE_EVENTING_VERSION=knative-v1.21.0
KUBE_PROMETHEUS_STACK_VERSION=79.7.1

# ---- settings --------------------------------------------------------------------------------
PROFILE=${MINIKUBE_PROFILE:-bookstore}
CPUS=${MINIKUBE_CPUS:-4}
MEMORY=${MINIKUBE_MEMORY:-8192}
DRIVER=${MINIKUBE_DRIVER:-docker}
NAMESPACE=bookstore
HELM_RELEASE=kube-prometheus-stack
HELM_NAMESPACE=monitoring
# Every image solution.sh builds (docker/Dockerfile targets), and the ones k8s/ deploys.
SERVICES=(node-server db-service file-sink dead-letter-logger local-broker)
DEPLOYED=(node-server db-service file-sink dead-letter-logger)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$ROOT/build/deploy
DRY_RUN=false
MONITORING=true
TEARDOWN=false

usage() {
	cat <<EOF
Usage: ./solution.sh [--dry-run] [--no-monitoring] [--teardown] [--help]

Deploys the bookstore on minikube (profile "$PROFILE"): Knative Serving $KNATIVE_SERVING_VERSION
with Kourier $KNATIVE_KOURIER_VERSION, Knative Eventing $KNATIVE_EVENTING_VERSION (in-memory
channel, MT channel broker), the images built inside minikube's Docker and tagged with the git
commit, PostgreSQL, the four Knative Services, Broker, Triggers, SinkBinding, and the
observability stack (kube-prometheus-stack chart $KUBE_PROMETHEUS_STACK_VERSION, OpenTelemetry
Collector, Jaeger, Grafana dashboards, alert rules). Safe to run again.

  --dry-run        print every step and render every manifest into build/deploy/ with
                   kubectl kustomize; needs no cluster, minikube, docker or helm
  --no-monitoring  skip the observability stack
  --teardown       delete the bookstore, observability and monitoring namespaces and the Helm
                   release (Knative and the minikube profile stay; minikube delete -p $PROFILE
                   removes everything)
  --help           this text

Environment: MINIKUBE_PROFILE, MINIKUBE_CPUS ($CPUS), MINIKUBE_MEMORY ($MEMORY MiB),
MINIKUBE_DRIVER ($DRIVER).
EOF
}

while [ $# -gt 0 ]; do
	case $1 in
	--dry-run) DRY_RUN=true ;;
	--no-monitoring) MONITORING=false ;;
	--teardown) TEARDOWN=true ;;
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

# The image tag: the commit, plus -dirty-<hash of the changes> for a dirty tree, so every change
# (committed or not) builds a new tag and rolls a new Knative revision.
image_tag() {
	local sha changes
	if ! sha=$(git rev-parse --short=12 HEAD 2>/dev/null); then
		echo "nogit-$(date -u +%Y%m%d%H%M%S)"
		return
	fi
	changes=$(git status --porcelain --untracked-files=normal 2>/dev/null || true)
	if [ -z "$changes" ]; then
		echo "$sha"
		return
	fi
	echo "$sha-dirty-$({
		git diff HEAD
		git ls-files --others --exclude-standard -z | xargs -0 -r sha256sum
	} | sha256sum | cut -c1-8)"
}

# 48 hex characters from the kernel's CSPRNG: no URL or shell escaping needed anywhere.
gen_password() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }

# render_app TAG: the minikube overlay with the images re-tagged, into $OUT/bookstore.yaml.
render_app() {
	local tag=$1 dir=$OUT/overlay s
	mkdir -p "$dir"
	{
		echo "# generated by solution.sh: k8s/overlays/minikube with the images tagged $tag"
		echo "apiVersion: kustomize.config.k8s.io/v1beta1"
		echo "kind: Kustomization"
		echo "resources:"
		echo "  - ../../../k8s/overlays/minikube"
		echo "images:"
		for s in "${DEPLOYED[@]}"; do
			printf '  - name: dev.local/%s\n    newTag: "%s"\n' "$s" "$tag"
		done
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
	printf '%s\n' "$@" >"$env"
	kubectl create secret generic "$name" -n "$ns" --from-env-file="$env"
	rm -f "$env"
}

# ---- steps -----------------------------------------------------------------------------------
check_prerequisites() {
	local missing=0 tool hint
	for tool in minikube kubectl helm docker git; do
		case $tool in
		minikube) hint="https://minikube.sigs.k8s.io/docs/start/ (curl -LO https://storage.googleapis.com/minikube/releases/latest/minikube-linux-amd64 && sudo install minikube-linux-amd64 /usr/local/bin/minikube)" ;;
		kubectl) hint="sudo apt-get install kubernetes-client, or https://kubernetes.io/docs/tasks/tools/ (needs kustomize v5, kubectl >= 1.27)" ;;
		helm) hint="https://helm.sh/docs/intro/install/ (curl -fsSL https://raw.githubusercontent.com/helm/helm/main/scripts/get-helm-3 | bash)" ;;
		docker) hint="sudo apt-get install docker.io (the docker CLI talks to minikube's daemon; with MINIKUBE_DRIVER=docker it also runs minikube)" ;;
		git) hint="sudo apt-get install git" ;;
		esac
		if have "$tool"; then
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
		triggers.eventing.knative.dev sinkbindings.sources.knative.dev
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

build_images() {
	local s
	# BuildKit reads docker/Dockerfile.dockerignore, which keeps the context small.
	export DOCKER_BUILDKIT=1
	if $DRY_RUN; then
		echo "    \$ eval \"\$(minikube -p $PROFILE docker-env --shell bash)\""
	else
		eval "$(minikube -p "$PROFILE" docker-env --shell bash)"
	fi
	for s in "${SERVICES[@]}"; do
		run docker build -f docker/Dockerfile --target "$s" -t "dev.local/$s:$TAG" .
	done
	if ! $DRY_RUN; then
		docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep "^dev.local/.*:$TAG " || true
	fi
}

deploy_monitoring() {
	local cm
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
	for cm in serving eventing; do
		run kubectl patch configmap config-observability -n "knative-$cm" --type merge \
			--patch-file "k8s/knative/config-observability-$cm.yaml"
	done
}

deploy_app() {
	render_app "$TAG"
	echo "    rendered k8s/overlays/minikube (tag $TAG) -> build/deploy/bookstore.yaml:"
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
	run kubectl wait broker,trigger,sinkbinding --all -n "$NAMESPACE" --for=condition=Ready \
		--timeout=300s
	if $MONITORING; then
		wait_deployments observability
	fi
}

print_access() {
	local host=127.0.0.1.sslip.io
	cat <<EOF

The bookstore is deployed (images dev.local/*:$TAG).

Page: forward Kourier, then open the URL (sslip.io resolves it to 127.0.0.1):
    kubectl port-forward -n kourier-system svc/kourier 8080:80
    http://node-server.$NAMESPACE.$host:8080/

events.log of file-sink and of dead-letter-logger:
    kubectl exec -n $NAMESPACE -c file-sink "\$(kubectl get pod -n $NAMESPACE -l serving.knative.dev/service=file-sink -o name | head -n 1)" -- cat /data/events.log
    kubectl exec -n $NAMESPACE -c dead-letter-logger "\$(kubectl get pod -n $NAMESPACE -l serving.knative.dev/service=dead-letter-logger -o name | head -n 1)" -- cat /data/events.log
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
	run kubectl delete namespace "$NAMESPACE" observability --ignore-not-found --wait=true
	if have helm || $DRY_RUN; then
		run helm uninstall "$HELM_RELEASE" --namespace "$HELM_NAMESPACE" --ignore-not-found
	fi
	run kubectl delete namespace "$HELM_NAMESPACE" --ignore-not-found --wait=true
	echo "    Knative and the minikube profile stay; remove everything with: minikube delete -p $PROFILE"
}

# ---- main ------------------------------------------------------------------------------------
if $DRY_RUN; then
	echo "solution.sh: dry run: nothing below is executed; manifests are rendered into build/deploy/"
fi

if $TEARDOWN; then
	TOTAL=1
	step "Delete the bookstore (namespaces $NAMESPACE, observability, $HELM_NAMESPACE)" teardown
	exit 0
fi

if ! have kubectl && $DRY_RUN; then
	echo "solution.sh: kubectl is missing, so manifests cannot be rendered; the plan only" >&2
	render_app() { echo "    (kubectl missing: not rendered)"; }
	render_monitoring() { : >"$OUT/monitoring.yaml"; }
fi

TAG=$(image_tag)
TOTAL=7
$MONITORING && TOTAL=8
step "Check prerequisites" check_prerequisites
step "Start minikube profile $PROFILE (${CPUS} CPUs, ${MEMORY} MiB, Kubernetes $KUBERNETES_VERSION)" \
	start_cluster
step "Install Knative Serving $KNATIVE_SERVING_VERSION + Kourier, Eventing $KNATIVE_EVENTING_VERSION + IMC + MT broker" \
	install_knative
step "Build ${#SERVICES[@]} images in minikube's Docker, tag $TAG" build_images
if $MONITORING; then
	step "Deploy the observability stack (kube-prometheus-stack $KUBE_PROMETHEUS_STACK_VERSION, collector, Jaeger, dashboards, rules)" \
		deploy_monitoring
fi
step "Deploy PostgreSQL, the services, Broker, Triggers and SinkBinding" deploy_app
step "Wait until everything is ready" wait_ready
STEP=$((STEP + 1))
printf '==> [%d/%d] %s\n' "$STEP" "$TOTAL" "How to open it"
print_access
printf 'solution.sh: %s in %ds\n' "$($DRY_RUN && echo 'dry run finished' || echo 'done')" \
	$((SECONDS - START))
