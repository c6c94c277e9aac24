// Offline helpers for the k8s_* integration tests: render kustomizations with kubectl, turn the
// YAML into objects without a YAML library (kubectl does the parsing), and validate objects
// against the schemas shipped by kubernetes-models and its Knative / Prometheus Operator sets.
import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";
import fs from "node:fs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Absolute path of a tool on PATH, or null. */
export function which(tool) {
	const r = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" });
	return r.status === 0 ? r.stdout.trim() : null;
}

/** `kubectl kustomize DIR` (DIR relative to the repo root): the rendered YAML text. */
export function kustomize(dir) {
	return execFileSync("kubectl", ["kustomize", path.join(ROOT, dir)], {
		encoding: "utf8",
		maxBuffer: 64 << 20,
	});
}

/*
 * YAML (one or more documents) to objects. kubectl parses it: `annotate --local` changes nothing
 * (it removes an annotation nobody sets) and prints each object as indented JSON, one after the
 * other; a top-level object ends with a "}" alone on its line.
 */
export function toObjects(yaml) {
	const out = execFileSync(
		"kubectl",
		["annotate", "--local", "-f", "-", "bookstore.test/unused-", "-o", "json"],
		{ input: yaml, encoding: "utf8", maxBuffer: 64 << 20 },
	);
	const objects = [];
	let start = 0;
	for (const m of out.matchAll(/^}$/gm)) {
		const end = m.index + 1;
		const obj = JSON.parse(out.slice(start, end));
		// kubectl adds an empty annotations map to objects that had none
		if (obj.metadata && obj.metadata.annotations && !Object.keys(obj.metadata.annotations).length)
			delete obj.metadata.annotations;
		objects.push(obj);
		start = end;
	}
	if (out.slice(start).trim() !== "") throw new Error("unparsed kubectl output: " + out.slice(start, 200));
	return objects;
}

export function readObjects(file) {
	return toObjects(fs.readFileSync(path.join(ROOT, file), "utf8"));
}

/*
 * Models by apiVersion: the package that holds the group, and the module path of the version.
 * kubernetes-models names the core group "v1" and the others "<group>/<version>".
 */
function modelModule(apiVersion) {
	const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
	if (group === "") return `kubernetes-models/${version}`;
	if (group.endsWith(".knative.dev")) return `@kubernetes-models/knative/${group}/${version}`;
	if (group === "monitoring.coreos.com")
		return `@kubernetes-models/prometheus-operator/${group}/${version}`;
	if (!group.includes(".") || group.endsWith(".k8s.io")) return `kubernetes-models/${group}/${version}`;
	return null;
}

/** The model class for an object, or null when no installed package describes it. */
export async function modelFor(obj) {
	const mod = modelModule(obj.apiVersion);
	if (!mod) return null;
	try {
		const m = await import(mod);
		return m[obj.kind] || null;
	} catch {
		return null;
	}
}

/** Core v1 Container model, for the pod templates Knative's schema leaves open. */
export async function containerModel() {
	return (await import("kubernetes-models/v1")).Container;
}

/** Pod specs inside an object (StatefulSet, Deployment, Knative Service), with a label. */
export function podSpecs(obj) {
	const where = `${obj.kind}/${obj.metadata.name}`;
	if (["StatefulSet", "Deployment", "DaemonSet", "Job"].includes(obj.kind))
		return [{ where, pod: obj.spec.template.spec, meta: obj.spec.template.metadata || {} }];
	if (obj.kind === "Service" && obj.apiVersion === "serving.knative.dev/v1")
		return [{ where, pod: obj.spec.template.spec, meta: obj.spec.template.metadata || {} }];
	return [];
}

/** Reads a bash array or scalar assignment from solution.sh, e.g. SERVICES=(a b c). */
export function shellVar(name) {
	const text = fs.readFileSync(path.join(ROOT, "solution.sh"), "utf8");
	const arr = text.match(new RegExp(`^${name}=\\(([^)]*)\\)`, "m"));
	if (arr) return arr[1].trim().split(/\s+/);
	const one = text.match(new RegExp(`^${name}=([^\\s]+)`, "m"));
	return one ? one[1] : null;
}
