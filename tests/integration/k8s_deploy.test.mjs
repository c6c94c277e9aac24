// The minikube path's blockers, offline (issue 9): each finding of the review of solution.sh,
// k8s/ and docker/ has a check here that fails when it comes back.
//
// Stand-ins: where a check needs kubectl, docker or minikube to answer in a particular way (a
// too-old kubectl, a docker CLI refused by minikube's daemon, pods in the middle of a rollout),
// a small shell script of that name on PATH plays the part. It stands in for the client only;
// solution.sh runs unchanged. Functions of solution.sh are called by sourcing it (it runs main
// only when executed).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, which, kustomize, toObjects, shellVar } from "../k8s/manifests.mjs";

const kubectl = which("kubectl");

function run(cmd, args, opts = {}) {
	const r = spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8", timeout: 60_000, ...opts });
	return { status: r.status, out: r.stdout, err: r.stderr };
}

/** A directory of fake tools (name -> shell script body), put first on PATH. */
function fakeBin(tools) {
	const bin = fs.mkdtempSync(path.join(os.tmpdir(), "bookstore-fake-"));
	for (const [name, body] of Object.entries(tools)) {
		fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
	}
	return { bin, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } };
}

/** Runs `source solution.sh; <script>` in bash with the given environment. */
function sourced(script, env) {
	return run("bash", ["-c", `source ./solution.sh; ${script}`], { env });
}

// kubectl 1.20 (Debian 12's kubernetes-client) prints its version in the old struct form, and
// its kustomize refuses our kustomizations.
const OLD_KUBECTL = `case "$1" in
version) echo 'Client Version: version.Info{Major:"1", Minor:"20", GitVersion:"v1.20.15", GitCommit:"8f1e5bf0", GitTreeState:"clean", BuildDate:"2022-01-19T17:27:39Z", GoVersion:"go1.15.15", Compiler:"gc", Platform:"linux/amd64"}' ;;
kustomize) echo 'error: json: unknown field "labels"' >&2; exit 1 ;;
*) echo "fake kubectl 1.20: $*" >&2; exit 1 ;;
esac`;

describe("kubectl version", () => {
	test("--dry-run with kubectl 1.20 says it is too old and how to get a new one, and renders nothing", () => {
		const { bin, env } = fakeBin({ kubectl: OLD_KUBECTL });
		try {
			fs.rmSync(path.join(ROOT, "build/deploy/bookstore.yaml"), { force: true });
			const r = run("bash", ["solution.sh", "--dry-run"], { env });
			assert.equal(r.status, 0, `${r.out}\n${r.err}`);
			assert.match(r.out, /TOO OLD kubectl \(Client Version: version\.Info\{Major:"1", Minor:"20", GitVersion:"v1\.20\.15"/);
			assert.match(r.out, /k8s\/ needs kubectl 1\.27 or\s+newer/);
			assert.match(r.out, /Debian 12's kubernetes-client\s+is 1\.20/);
			assert.match(r.out, /curl -LO https:\/\/dl\.k8s\.io\/release\/v1\.\d+\.\d+\/bin\/linux\/amd64\/kubectl/);
			assert.match(r.err, /kubectl is missing or older than 1\.27, so manifests cannot be rendered; the plan only/);
			assert.match(r.out, /kubectl missing or too old: not rendered/);
			assert.equal(fs.readFileSync(path.join(ROOT, "build/deploy/bookstore.yaml"), "utf8"), "", "nothing rendered with the old kustomize");
		} finally {
			fs.rmSync(bin, { recursive: true, force: true });
		}
	});

	test("a real run stops at step 1 with the same message", () => {
		const { bin, env } = fakeBin({ kubectl: OLD_KUBECTL });
		try {
			const r = run("bash", ["solution.sh", "--no-monitoring"], { env });
			assert.equal(r.status, 1, `${r.out}\n${r.err}`);
			assert.match(r.out, /!!! step 1 \(Check prerequisites\) failed/);
			assert.match(r.out, /TOO OLD kubectl/);
			assert.doesNotMatch(r.out, /==> \[2\//);
		} finally {
			fs.rmSync(bin, { recursive: true, force: true });
		}
	});

	test("the kubectl here passes the check", { skip: !kubectl && "kubectl is not installed" }, () => {
		const r = sourced("check_kubectl", process.env);
		assert.equal(r.status, 0, r.out);
		assert.match(r.out, /found kubectl 1\.\d+ \(>= 1\.27\)/);
	});
});

describe("image build and tags", () => {
	test("build_mode: minikube image build when the daemon refuses the CLI's API version; legacy without buildx; BuildKit with it", () => {
		const cases = [
			["echo 'Error response from daemon: client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version' >&2; exit 1", "minikube", /client version 1\.41 is too old.*minikube image build/],
			['case "$1" in version) echo 1.47 ;; buildx) echo "docker: unknown command: docker buildx" >&2; exit 1 ;; esac', "legacy", /no docker buildx: building with the legacy builder \(DOCKER_BUILDKIT=0\)/],
			['case "$1" in version) echo 1.47 ;; buildx) echo "github.com/docker/buildx v0.20.0" ;; esac', "buildkit", null],
		];
		for (const [docker, mode, message] of cases) {
			const { bin, env } = fakeBin({ docker });
			try {
				const r = sourced("build_mode", env);
				assert.equal(r.status, 0, r.err);
				assert.equal(r.out.trim(), mode, docker);
				if (message) assert.match(r.err, message);
			} finally {
				fs.rmSync(bin, { recursive: true, force: true });
			}
		}
	});

	test("tags are hashes of each image's inputs: a change to one service retags only that image", () => {
		// A copy of what the images are built from, outside git (scripts/images.sh hashes files).
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bookstore-tags-"));
		try {
			for (const p of ["scripts/images.sh", "scripts/dockerd.sh", "docker", ".dockerignore", "Makefile", "mk", "common",
				"services", "frontend-static", "k8s/base/eventing"])
				fs.cpSync(path.join(ROOT, p), path.join(dir, p), { recursive: true });
			const services = shellVar("SERVICES");
			const tags = () => Object.fromEntries(services.map((s) => [s,
				run(path.join(dir, "scripts/images.sh"), ["tag", s], { cwd: dir }).out.trim()]));
			const changed = (a, b) => services.filter((s) => a[s] !== b[s]).sort();
			const t0 = tags();
			for (const s of services) assert.match(t0[s], /^[0-9a-f]{12}$/, s);
			assert.equal(new Set(Object.values(t0)).size, services.length, "each image has its own tag");
			assert.deepEqual(tags(), t0, "the same files give the same tags");

			const edit = (rel) => fs.appendFileSync(path.join(dir, rel), "\n/* edited */\n");
			edit("services/node-server/main.c");
			const t1 = tags();
			assert.deepEqual(changed(t0, t1), ["node-server"]);
			edit("services/file-sink/main.c");
			const t2 = tags();
			assert.deepEqual(changed(t1, t2), ["file-sink"]);
			fs.appendFileSync(path.join(dir, "frontend-static/style.css"), "\n/* edited */\n");
			const t3 = tags();
			assert.deepEqual(changed(t2, t3), ["node-server"]);
			fs.appendFileSync(path.join(dir, "k8s/base/eventing/broker.yaml"), "\n# edited\n");
			const t4 = tags();
			assert.deepEqual(changed(t3, t4), ["local-broker"]);
			const common = fs.readdirSync(path.join(dir, "common/src")).find((f) => f.endsWith(".c"));
			edit(`common/src/${common}`);
			assert.deepEqual(changed(t4, tags()), [...services].sort(), "common/ goes into every image");
			const t5 = tags();
			fs.appendFileSync(path.join(dir, "docker/Dockerfile"), "\n# edited\n");
			assert.deepEqual(changed(t5, tags()), [...services].sort(), "the Dockerfile goes into every image");
			const other = run(path.join(dir, "scripts/images.sh"), ["tag", "file-sink"],
				{ cwd: dir, env: { ...process.env, DEBIAN_IMAGE: "debian:12.99-slim" } }).out.trim();
			assert.notEqual(other, tags()["file-sink"], "the base image's name goes into the tag");
		} finally {
			fs.rmSync(dir, { recursive: true, force: true });
		}
	});

	test("the Dockerfile finds the dlopen'ed libcurl and libpq in the build machine's multiarch directory (amd64, arm64)", () => {
		const dockerfile = fs.readFileSync(path.join(ROOT, "docker/Dockerfile"), "utf8");
		// The RUN that collects the runtime tree, continuation lines joined; its commands up to the
		// ldd loop are run in bash with a stand-in gcc (and dpkg-architecture) for each architecture.
		const run_ = dockerfile.replace(/\\\n/g, " ").split("\n").find((l) => /^RUN .*libcurl\.so\.4/.test(l));
		assert.ok(run_, "the RUN that names libcurl.so.4");
		const cmds = run_.slice(4).split("&&").map((c) => c.trim());
		const upTo = cmds.findIndex((c) => c.startsWith("for f in"));
		assert.ok(upTo > 0, "the ldd loop");
		const prelude = cmds.slice(0, upTo).filter((c) => !c.startsWith("mkdir "));
		for (const triplet of ["x86_64-linux-gnu", "aarch64-linux-gnu"]) {
			const answer = `case "$*" in *-print-multiarch*|*DEB_HOST_MULTIARCH*) echo ${triplet} ;; *) exit 1 ;; esac`;
			const { bin, env } = fakeBin({ gcc: answer, "dpkg-architecture": answer });
			try {
				const r = run("bash", ["-c", `set -e; ${prelude.join(" && ")}; printf '%s\\n' $dl`], { env });
				assert.equal(r.status, 0, r.err);
				assert.deepEqual(r.out.trim().split("\n"), [`/usr/lib/${triplet}/libcurl.so.4`, `/usr/lib/${triplet}/libpq.so.5`], triplet);
			} finally {
				fs.rmSync(bin, { recursive: true, force: true });
			}
		}
		assert.doesNotMatch(dockerfile.replace(/^#.*$/gm, ""), /(x86_64|aarch64|arm|i386|powerpc64le|s390x)-linux-gnu/,
			"no architecture's library directory is written into an instruction");
	});

	test("the Dockerfile has no # syntax= line (BuildKit would pull a frontend image) and one .dockerignore serves both builders", () => {
		const dockerfile = fs.readFileSync(path.join(ROOT, "docker/Dockerfile"), "utf8");
		assert.doesNotMatch(dockerfile, /^#\s*syntax\s*=/im);
		assert.ok(fs.existsSync(path.join(ROOT, ".dockerignore")));
		assert.ok(!fs.existsSync(path.join(ROOT, "docker/Dockerfile.dockerignore")),
			"BuildKit would prefer docker/Dockerfile.dockerignore, the legacy builder reads only .dockerignore");
		const ignore = fs.readFileSync(path.join(ROOT, ".dockerignore"), "utf8");
		for (const m of dockerfile.matchAll(/^COPY (?!--from)(\S+)/gm)) {
			const top = m[1].replace(/\/$/, "").split("/")[0];
			assert.match(ignore, new RegExp(`^!${top}/?$`, "m"), `COPY ${m[1]} is in the build context`);
		}
	});
});

describe("Knative configuration", () => {
	const features = fs.readFileSync(path.join(ROOT, "k8s/knative/config-features.yaml"), "utf8");
	const dataKeys = (text) => {
		const data = text.slice(text.indexOf("\ndata:\n") + 7);
		return [...data.matchAll(/^ {2}([A-Za-z0-9._-]+):/gm)].map((m) => m[1]);
	};

	test("config-features sets only keys Knative Serving knows (no kubernetes.podspec-emptydir)", () => {
		// The keys of config/core/configmaps/features.yaml at knative-v1.22.1.
		const known = new Set(("secure-pod-defaults multi-container multi-container-probing kubernetes.podspec-affinity " +
			"kubernetes.podspec-topologyspreadconstraints kubernetes.podspec-hostaliases kubernetes.podspec-nodeselector " +
			"kubernetes.podspec-tolerations kubernetes.podspec-fieldref kubernetes.podspec-runtimeclassname " +
			"kubernetes.podspec-dnspolicy kubernetes.podspec-dnsconfig kubernetes.podspec-securitycontext " +
			"kubernetes.podspec-shareprocessnamespace kubernetes.podspec-hostipc kubernetes.podspec-hostpid " +
			"kubernetes.podspec-hostnetwork kubernetes.podspec-priorityclassname kubernetes.podspec-schedulername " +
			"kubernetes.containerspec-addcapabilities tag-header-based-routing autodetect-http2 " +
			"kubernetes.podspec-volumes-emptydir kubernetes.podspec-volumes-image kubernetes.podspec-volumes-hostpath " +
			"kubernetes.podspec-volumes-csi kubernetes.podspec-init-containers kubernetes.podspec-persistent-volume-claim " +
			"kubernetes.podspec-persistent-volume-write kubernetes.podspec-volumes-mount-propagation " +
			"queueproxy.mount-podinfo queueproxy.resource-defaults").split(" "));
		const keys = dataKeys(features);
		assert.ok(keys.length > 0);
		for (const k of keys) assert.ok(known.has(k), `config-features: ${k} is not a Knative key`);
		assert.ok(!keys.includes("kubernetes.podspec-emptydir"));
		for (const doc of ["docs/deploy.md", "k8s/knative/README.md"]) {
			assert.doesNotMatch(fs.readFileSync(path.join(ROOT, doc), "utf8"), /podspec-emptydir/, doc);
		}
	});

	test("config-observability (serving) sets queue-proxy's request-metrics keys to the collector", () => {
		const text = fs.readFileSync(path.join(ROOT, "k8s/knative/config-observability-serving.yaml"), "utf8");
		const keys = dataKeys(text);
		for (const k of ["request-metrics-protocol", "request-metrics-endpoint", "request-metrics-export-interval"])
			assert.ok(keys.includes(k), k);
		const value = (k) => text.match(new RegExp(`^  ${k}: (.+)$`, "m"))[1];
		assert.equal(value("request-metrics-endpoint"), value("metrics-endpoint"));
		assert.equal(value("request-metrics-protocol"), value("metrics-protocol"));
	});

	test("--dry-run: Knative's pods restart after config-observability is patched (they read it only at start)", () => {
		const r = run("bash", ["solution.sh", "--dry-run"]);
		assert.equal(r.status, 0, r.err);
		const at = (re) => {
			const m = re.exec(r.out);
			assert.ok(m, `${re} in the plan`);
			return m.index;
		};
		const patches = ["serving", "eventing"].map((c) =>
			at(new RegExp(`\\$ kubectl patch configmap config-observability -n knative-${c} --type merge --patch-file k8s/knative/config-observability-${c}\\.yaml`)));
		for (const ns of ["knative-serving", "knative-eventing"]) {
			const restart = at(new RegExp(`\\$ kubectl rollout restart deployment -n ${ns}\\n`));
			const status = at(new RegExp(`\\$ kubectl rollout status deployment -n ${ns} --timeout=300s`));
			assert.ok(restart > Math.max(...patches) && status > restart, `${ns} restarts after both patches`);
		}
		// ... and before the Knative Services exist, so their first revisions get the new queue-proxy config
		assert.ok(at(/\$ kubectl rollout restart deployment -n knative-eventing/) < at(/\$ kubectl apply -f \S+bookstore\.yaml/));
	});

	test("--teardown resets every config-observability key solution.sh set, before deleting the collector", () => {
		const r = run("bash", ["solution.sh", "--dry-run", "--teardown"]);
		assert.equal(r.status, 0, r.err);
		for (const c of ["serving", "eventing"]) {
			const keys = dataKeys(fs.readFileSync(path.join(ROOT, `k8s/knative/config-observability-${c}.yaml`), "utf8"));
			const line = r.out.split("\n").find((l) => l.includes(`kubectl patch configmap config-observability -n knative-${c} --type merge -p`));
			assert.ok(line, `a reset patch for knative-${c}`);
			const json = line.slice(line.indexOf(" -p ") + 4).replace(/\\(.)/g, "$1");
			assert.deepEqual(JSON.parse(json), { data: Object.fromEntries(keys.map((k) => [k, null])) });
		}
		assert.ok(r.out.indexOf("config-observability -n knative-eventing") < r.out.indexOf("kubectl delete namespace bookstore observability"));
	});

	test("pins: the versions in solution.sh are the ones docs/deploy.md names, with the date they were checked", () => {
		const deploy = fs.readFileSync(path.join(ROOT, "docs/deploy.md"), "utf8");
		for (const v of ["KUBERNETES_VERSION", "KNATIVE_SERVING_VERSION", "KNATIVE_KOURIER_VERSION", "KNATIVE_EVENTING_VERSION"]) {
			const value = shellVar(v)[0];
			assert.ok(deploy.includes(value), `${v}=${value} in docs/deploy.md`);
		}
		assert.match(deploy, /checked on \d{4}-\d{2}-\d{2}/);
		// Knative 1.22 and 1.23 refuse Kubernetes older than 1.34 (knative.dev/pkg/version).
		const minor = (v) => Number(v.split(".")[1]);
		if (minor(shellVar("KNATIVE_SERVING_VERSION")[0]) >= 22) assert.ok(minor(shellVar("KUBERNETES_VERSION")[0]) >= 34);
	});
});

describe("events.log", () => {
	test("both sinks keep exactly one pod (min-scale and max-scale 1)", { skip: !kubectl && "kubectl is not installed" }, () => {
		const objs = toObjects(kustomize("k8s/overlays/minikube"));
		for (const name of ["file-sink", "dead-letter-logger"]) {
			const ksvc = objs.find((o) => o.kind === "Service" && o.metadata.name === name && o.apiVersion.startsWith("serving.knative.dev"));
			const a = ksvc.spec.template.metadata.annotations;
			assert.equal(a["autoscaling.knative.dev/min-scale"], "1", name);
			assert.equal(a["autoscaling.knative.dev/max-scale"], "1", name);
		}
	});

	// During a rollout: the old revision's pod is Terminating (and still Running), listed first.
	const ROLLOUT_KUBECTL = `case "$*" in
"get ksvc "*) echo "$3-00002" ;;
"get pod "*) printf '%s\\n' "$6" | grep -q 'revision=.*-00002$' || exit 1
	svc=$(printf '%s' "$6" | sed 's/.*revision=//; s/-00002$//')
	printf '%s-00002-deployment-old 2026-12-03T10:00:00Z\\n%s-00002-deployment-new \\n' "$svc" "$svc" ;;
"exec "*) echo "exec $*" ;;
*) echo "unexpected: kubectl $*" >&2; exit 1 ;;
esac`;

	test("./solution.sh logs reads the latest ready revision's pod that is not terminating", () => {
		const { bin, env } = fakeBin({ kubectl: ROLLOUT_KUBECTL });
		try {
			const r = run("bash", ["solution.sh", "logs", "file-sink"], { env });
			assert.equal(r.status, 0, `${r.out}\n${r.err}`);
			assert.equal(r.out.trim(), "exec exec -n bookstore -c file-sink file-sink-00002-deployment-new -- cat /data/events.log");
			const both = run("bash", ["solution.sh", "logs"], { env });
			assert.equal(both.status, 0, both.err);
			assert.match(both.out, /-c file-sink file-sink-00002-deployment-new /);
			assert.match(both.out, /-c dead-letter-logger dead-letter-logger-00002-deployment-new /);
			assert.equal(run("bash", ["solution.sh", "logs", "node-server"], { env }).status, 2);
		} finally {
			fs.rmSync(bin, { recursive: true, force: true });
		}
	});

	test("the printed kubectl exec line picks the same pod when pasted into a shell", () => {
		const r = run("bash", ["solution.sh", "--dry-run"]);
		assert.equal(r.status, 0, r.err);
		const lines = r.out.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("kubectl exec -n bookstore"));
		assert.equal(lines.length, 2, r.out);
		assert.doesNotMatch(r.out, /-o name \| head -n 1/);
		assert.match(r.out, /\.\/solution\.sh logs file-sink\n\s+\.\/solution\.sh logs dead-letter-logger/);
		const { bin, env } = fakeBin({ kubectl: ROLLOUT_KUBECTL });
		try {
			for (const line of lines) {
				const sink = line.match(/-c (\S+)/)[1];
				const x = run("bash", ["-c", line], { env });
				assert.equal(x.status, 0, x.err);
				assert.equal(x.out.trim(), `exec exec -n bookstore -c ${sink} ${sink}-00002-deployment-new -- cat /data/events.log`);
			}
		} finally {
			fs.rmSync(bin, { recursive: true, force: true });
		}
	});
});

describe("smaller findings", () => {
	test("a failing kubectl create leaves no password file behind", () => {
		const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bookstore-tmpdir-"));
		const { bin, env } = fakeBin({ kubectl: 'case "$1" in get) exit 1 ;; create) echo "error: the server could not find the requested resource" >&2; exit 1 ;; esac' });
		try {
			const r = sourced("ensure_secret monitoring grafana-admin admin-user=admin admin-password=s3cr3t-value", { ...env, TMPDIR: tmp });
			assert.notEqual(r.status, 0, "the failure is reported");
			assert.deepEqual(fs.readdirSync(tmp), [], "the temporary file is gone");
			assert.doesNotMatch(r.out + r.err, /s3cr3t-value/);
		} finally {
			fs.rmSync(tmp, { recursive: true, force: true });
			fs.rmSync(bin, { recursive: true, force: true });
		}
	});

	test("the Delivery latency panel shows one series per component", () => {
		const dash = JSON.parse(fs.readFileSync(path.join(ROOT, "k8s/monitoring/dashboards/bookstore-events.json"), "utf8"));
		const panel = dash.panels.find((p) => /^Delivery latency/.test(p.title));
		assert.ok(panel, "the panel exists");
		const kn = panel.targets.filter((t) => t.expr.includes("kn_eventing_dispatch_duration_seconds"));
		assert.equal(kn.length, 2);
		for (const t of kn) {
			assert.match(t.expr, /sum by \(le, job\)/, t.expr);
			assert.match(t.legendFormat, /\{\{job\}\}/);
		}
	});

	test("sinkbinding.yaml does not promise a K_CE_OVERRIDES that nothing sets", () => {
		const text = fs.readFileSync(path.join(ROOT, "k8s/base/eventing/sinkbinding.yaml"), "utf8");
		assert.doesNotMatch(text, /ceOverrides:/);
		assert.doesNotMatch(text, /K_SINK[^.\n]* and K_CE_OVERRIDES/);
	});
});
