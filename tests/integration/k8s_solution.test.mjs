// solution.sh and the repository's shell scripts, offline: shellcheck is clean on every *.sh,
// `./solution.sh --dry-run` runs here without a cluster, minikube, docker or helm, prints the
// numbered plan, renders the manifests with the image tag it would build, and exits 0.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, which, shellVar } from "../k8s/manifests.mjs";

function run(cmd, args, opts = {}) {
	const r = spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8", timeout: 60_000, ...opts });
	return { status: r.status, out: r.stdout, err: r.stderr };
}

// Every shell script in the repository except dependencies and build output.
function shellScripts() {
	const found = [];
	const walk = (dir) => {
		for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
			if ([".git", "node_modules", "build"].includes(e.name)) continue;
			const p = path.join(dir, e.name);
			if (e.isDirectory()) walk(p);
			else if (e.name.endsWith(".sh") || p === path.join(ROOT, ".ci/run")) found.push(path.relative(ROOT, p));
		}
	};
	walk(ROOT);
	return found.sort();
}

// A PATH with bash, coreutils, git and kubectl but none of minikube, docker or helm.
function bareEnv() {
	const bin = fs.mkdtempSync(path.join(os.tmpdir(), "bookstore-bin-"));
	for (const tool of ["bash", "sh", "env", "git", "kubectl", "awk", "sed", "grep", "cat", "cut", "tr", "od",
		"date", "dirname", "mkdir", "xargs", "sha256sum", "tail", "head", "printf", "rm", "mktemp"]) {
		const p = which(tool);
		if (p) fs.symlinkSync(p, path.join(bin, tool));
	}
	return { bin, env: { PATH: bin, HOME: os.tmpdir(), LANG: "C.UTF-8" } };
}

describe("shell scripts", () => {
	const shellcheck = which("shellcheck");
	test("shellcheck is clean on solution.sh and every *.sh", { skip: !shellcheck && "shellcheck is not installed" }, () => {
		const files = shellScripts();
		assert.ok(files.includes("solution.sh"), "solution.sh is checked");
		assert.ok(files.length >= 3, files.join(" "));
		const r = run("shellcheck", ["--severity=style", ...files]);
		assert.equal(r.status, 0, `${r.out}${r.err}`);
	});

	test("solution.sh is strict bash", () => {
		const text = fs.readFileSync(path.join(ROOT, "solution.sh"), "utf8");
		assert.match(text, /^#!\/usr\/bin\/env bash\n/);
		assert.match(text, /^set -euo pipefail$/m);
		assert.ok(fs.statSync(path.join(ROOT, "solution.sh")).mode & 0o100, "solution.sh is executable");
	});
});

describe("solution.sh flags", { skip: !which("kubectl") && "kubectl is not installed: the dry run cannot render" }, () => {
	test("--dry-run: the plan, the rendered manifests, exit 0, with no minikube/docker/helm", () => {
		const { bin, env } = bareEnv();
		try {
			const r = run("bash", ["solution.sh", "--dry-run"], { env });
			assert.equal(r.status, 0, `${r.out}\n${r.err}`);
			const steps = [...r.out.matchAll(/^==> \[(\d+)\/(\d+)\] (.+)$/gm)];
			assert.equal(steps.length, 8, r.out);
			steps.forEach((m, i) => assert.equal(Number(m[1]), i + 1));
			assert.match(r.out, /MISSING minikube: install it with: .*minikube/);
			assert.match(r.out, /MISSING helm: install it with: .*helm/);
			assert.match(r.out, /\$ minikube start -p bookstore .*--kubernetes-version=v\d/);
			assert.match(r.out, /\$ kubectl apply -f https:\/\/github\.com\/knative\/serving\/releases\/download\/knative-v[\d.]+\/serving-crds\.yaml/);
			assert.match(r.out, /\$ helm upgrade --install kube-prometheus-stack .* --version [\d.]+ /);
			assert.match(r.out, /\$ kubectl patch configmap config-deployment -n knative-serving --type merge/);
			assert.match(r.out, /How to open it[\s\S]*cat \/data\/events\.log[\s\S]*cat \/data\/events\.log/);
			assert.match(r.out, /grafana-admin -o jsonpath='\{\.data\.admin-password\}'/);
			assert.match(r.out, /dry run finished/);

			// each image's tag: a hash of its inputs (scripts/images.sh tag); the same in images and manifests
			const app = fs.readFileSync(path.join(ROOT, "build/deploy/bookstore.yaml"), "utf8");
			for (const s of shellVar("SERVICES")) {
				const tag = run("scripts/images.sh", ["tag", s], { env: { ...process.env, DEBIAN_IMAGE: "debian:12.11-slim" } }).out.trim();
				assert.match(tag, /^[0-9a-f]{12}$/, s);
				assert.match(r.out, new RegExp(`\\$ env DOCKER_BUILDKIT=1 docker build -f docker/Dockerfile --target ${s} .* -t dev\\.local/${s}:${tag} \\.$`, "m"), s);
				if (shellVar("DEPLOYED").includes(s)) assert.ok(app.includes(`image: dev.local/${s}:${tag}`), s);
			}
			assert.ok(!app.includes(":local\n"), "no image keeps the overlay's local tag");
			assert.match(fs.readFileSync(path.join(ROOT, "build/deploy/monitoring.yaml"), "utf8"), /kind: PrometheusRule/);
		} finally {
			fs.rmSync(bin, { recursive: true, force: true });
		}
	});

	// Each Knative Service's env in the rendered manifests: name -> { NAME: value }.
	const ksvcEnv = (yaml) => {
		const out = {};
		for (const doc of yaml.split(/^---$/m)) {
			if (!/^kind: Service$/m.test(doc) || !/^apiVersion: serving\.knative\.dev\/v1$/m.test(doc)) continue;
			const name = /^metadata:\n(?:  .*\n)*?  name: (\S+)$/m.exec(doc)[1];
			out[name] = Object.fromEntries([...doc.matchAll(/- name: (\S+)\n\s+value: "?([^"\n]*)"?$/gm)].map((m) => [m[1], m[2]]));
		}
		return out;
	};

	test("--dry-run --no-monitoring skips the observability stack, and the services export no telemetry", () => {
		// the full dry run above left its rendering in build/deploy/bookstore.yaml
		const all = ksvcEnv(fs.readFileSync(path.join(ROOT, "build/deploy/bookstore.yaml"), "utf8"));
		const r = run("bash", ["solution.sh", "--dry-run", "--no-monitoring"]);
		assert.equal(r.status, 0, r.err);
		assert.equal([...r.out.matchAll(/^==> \[\d+\/7\]/gm)].length, 7);
		assert.doesNotMatch(r.out, /helm upgrade|Grafana/);
		// no collector: each service's OpenTelemetry SDK is off (else it retries a name that
		// does not resolve, and holds its stop for the export timeouts)
		const bare = ksvcEnv(fs.readFileSync(path.join(ROOT, "build/deploy/bookstore.yaml"), "utf8"));
		assert.deepEqual(Object.keys(bare).sort(), Object.keys(all).sort());
		assert.equal(Object.keys(bare).length, 6, Object.keys(bare).join(", "));
		for (const [name, env] of Object.entries(bare)) {
			assert.equal(env.OTEL_SDK_DISABLED, "true", name);
			assert.equal(all[name].OTEL_SDK_DISABLED, undefined, `${name}: only without monitoring`);
			assert.ok(env.OTEL_EXPORTER_OTLP_ENDPOINT, `${name}: the rest of its env is kept`);
		}
	});

	test("--dry-run --teardown prints the deletions only", () => {
		const r = run("bash", ["solution.sh", "--dry-run", "--teardown"]);
		assert.equal(r.status, 0, r.err);
		assert.match(r.out, /\$ kubectl delete namespace bookstore observability --ignore-not-found/);
		assert.match(r.out, /\$ helm uninstall kube-prometheus-stack/);
		assert.doesNotMatch(r.out, /minikube start|docker build/);
	});

	test("--help exits 0; an unknown flag exits 2", () => {
		const help = run("bash", ["solution.sh", "--help"]);
		assert.equal(help.status, 0);
		for (const flag of ["--dry-run", "--no-monitoring", "--teardown", "--help"]) assert.ok(help.out.includes(flag), flag);
		const bad = run("bash", ["solution.sh", "--bogus"]);
		assert.equal(bad.status, 2);
		assert.match(bad.err, /unknown option '--bogus'/);
	});
});
