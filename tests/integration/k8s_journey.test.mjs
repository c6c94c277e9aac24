// Offline checks of the journey wiring in k8s/ (docs/journey.md): node-server shows the
// Broker's own delivery spec (its DELIVERY_* equal the Broker's spec.delivery, as make run reads
// them from the same file), both sinks and both Sequence steps post their journey records to
// node-server's cluster URL, and every value parses by the services' own rules (each binary's
// strict config).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { which, kustomize, toObjects } from "../k8s/manifests.mjs";
import { binPath, repoRoot } from "./lib/proc.mjs";

const KUBECTL = which("kubectl");
const skip = KUBECTL ? false : "kubectl (with kustomize) is not installed: cannot render k8s/";
if (skip) console.log(`# skipping: ${skip}`);

function rendered() {
	return toObjects(kustomize("k8s/overlays/minikube"));
}
const find = (objs, kind, name) => objs.find((o) => o.kind === kind && o.metadata?.name === name);
const envOf = (ksvc) => Object.fromEntries(ksvc.spec.template.spec.containers[0].env.map((e) => [e.name, e.value]));

test("node-server's DELIVERY_* are the Broker's delivery spec", { skip }, () => {
	const objs = rendered();
	const d = find(objs, "Broker", "bookstore-broker").spec.delivery;
	const env = envOf(find(objs, "Service", "node-server"));
	assert.equal(env.DELIVERY_RETRY, String(d.retry));
	assert.equal(env.DELIVERY_BACKOFF_POLICY, d.backoffPolicy);
	assert.equal(env.DELIVERY_BACKOFF_DELAY, d.backoffDelay);
	assert.match(env.TRACE_UI_URL, /^http:\/\/localhost:16686\/trace\/\{traceId\}$/);
});

test("file-sink, dead-letter-logger and the Sequence's steps post journey records to node-server's cluster URL", { skip }, () => {
	const objs = rendered();
	for (const name of ["file-sink", "dead-letter-logger", "bad-word-filter", "sentiment-analysis"])
		assert.equal(envOf(find(objs, "Service", name)).JOURNEY_URL, "http://node-server.bookstore.svc.cluster.local/journey", name);
});

test("the manifests' journey settings pass each service's strict configuration", { skip }, async () => {
	const objs = rendered();
	const keys = { "node-server": ["DELIVERY_RETRY", "DELIVERY_BACKOFF_POLICY", "DELIVERY_BACKOFF_DELAY", "TRACE_UI_URL"], "file-sink": ["JOURNEY_URL"], "dead-letter-logger": ["JOURNEY_URL"], "bad-word-filter": ["JOURNEY_URL"], "sentiment-analysis": ["JOURNEY_URL"] };
	for (const [name, vars] of Object.entries(keys)) {
		const env = envOf(find(objs, "Service", name));
		// each variable alone, plus a bad PORT: the binary must get past these and stop at PORT
		for (const v of vars) {
			const r = spawnSync(binPath(name), [], { env: { PATH: process.env.PATH, [v]: env[v], DATA_DIR: "/tmp", PORT: "x" }, encoding: "utf8", timeout: 10000 });
			assert.equal(r.status, 2, `${name} ${v}=${env[v]}: ${r.stderr}`);
			assert.match(r.stderr, /PORT/, `${name}: ${v}=${env[v]} parsed (it stopped at PORT, not at ${v})`);
		}
	}
});

test("make run reads the same spec from k8s/base/eventing/broker.yaml", () => {
	// the awk of scripts/run.sh's broker_delivery(), run on the file the cluster applies
	const script = path.join(repoRoot, "scripts/run.sh");
	const src = spawnSync("sed", ["-n", "/^broker_delivery()/,/^}/p", script], { encoding: "utf8" }).stdout;
	assert.match(src, /broker\.yaml/);
	for (const [key, want] of [["retry", "2"], ["backoffPolicy", "exponential"], ["backoffDelay", "PT1S"]]) {
		const r = spawnSync("bash", ["-c", `top=${JSON.stringify(repoRoot)}; ${src.trim()}
broker_delivery ${key}`], { encoding: "utf8" });
		assert.equal(r.stdout.trim(), want, key);
	}
});
