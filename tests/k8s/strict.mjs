// Strict validation of Kubernetes objects, on top of the kubernetes-models schemas.
//
// The models' validators (compiled JSON schemas) accept any unknown field, so a misspelled
// `delivery.retires` or `imagee` passes them. The same packages ship TypeScript declarations
// generated from the same OpenAPI schemas, listing every field of every object, which fields
// are required and the enum values. This module reads those declarations and rejects:
//   - a field the schema does not list, wherever the schema lists fields (an object declared
//     as `{}` in the schema stays open, as Kubernetes leaves it);
//   - a missing required field, a value of the wrong type, a value outside an enum;
// and adds the rules the schemas state only in prose (Knative delivery: backoffPolicy
// linear|exponential, ISO-8601 backoffDelay and timeout, retry >= 0; a Trigger needs a broker
// and a subscriber; resource names cpu, memory, ephemeral-storage, hugepages-*, or vendor/name).
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "./manifests.mjs";

const NODE_MODULES = path.join(ROOT, "node_modules");

/* ---- reading the declarations ------------------------------------------------------------ */

function resolveDts(from, spec) {
	if (spec.startsWith(".")) return path.resolve(path.dirname(from), spec + ".d.ts");
	return path.join(NODE_MODULES, spec + ".d.ts");
}

function tokenize(text) {
	const src = text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/[^\n]*/g, " ");
	const re = /\s*("(?:[^"\\]|\\.)*"|[A-Za-z_$][\w$]*|[0-9]+|\?:|=>|[{}()[\]<>;:,|?=*.&-])/y;
	const out = [];
	let at = 0;
	for (;;) {
		re.lastIndex = at;
		const m = re.exec(src);
		if (!m) break;
		out.push(m[1]);
		at = re.lastIndex;
	}
	if (src.slice(at).trim() !== "") throw new Error(`cannot tokenize near: ${src.slice(at, at + 60)}`);
	return out;
}

const files = new Map(); // path -> { names: Map(name -> type thunk) }

/** The declarations of one .d.ts file: interfaces, type aliases, imports and export aliases. */
function loadFile(file) {
	if (files.has(file)) return files.get(file);
	const tok = tokenize(fs.readFileSync(file, "utf8"));
	const decl = new Map(); // local name -> type
	const imports = new Map(); // local name -> { file, name }
	const aliases = new Map(); // exported name -> local name
	const mod = { file, decl, imports, aliases };
	files.set(file, mod);
	let i = 0;
	const peek = () => tok[i];
	const eat = (t) => {
		if (t !== undefined && tok[i] !== t) throw new Error(`${file}: expected ${t}, got ${tok[i]} at token ${i}`);
		return tok[i++];
	};
	const unquote = (s) => (s.startsWith('"') ? JSON.parse(s) : s);

	function parseType() {
		const alts = [parsePrimary()];
		while (peek() === "|") {
			eat("|");
			alts.push(parsePrimary());
		}
		return alts.length === 1 ? alts[0] : { t: "union", of: alts };
	}
	function parsePrimary() {
		const t = eat();
		if (t === "{") return parseMembers();
		if (t === "Array") {
			eat("<");
			const of = parseType();
			eat(">");
			return { t: "array", of };
		}
		if (t.startsWith('"')) return { t: "lit", v: JSON.parse(t) };
		if (["string", "number", "boolean"].includes(t)) return { t };
		if (["unknown", "any", "object"].includes(t)) return { t: "any" };
		if (t === "null") return { t: "null" };
		if (/^[A-Za-z_$]/.test(t)) return { t: "ref", name: t, mod };
		throw new Error(`${file}: unexpected ${t} in a type`);
	}
	// after "{": members up to the matching "}"
	function parseMembers() {
		const props = new Map();
		let index = null;
		while (peek() !== "}") {
			if (peek() === "[") {
				eat("[");
				eat();
				eat(":");
				eat();
				eat("]");
				eat(":");
				index = parseType();
			} else {
				const name = unquote(eat());
				const opt = peek() === "?:";
				eat(opt ? "?:" : ":");
				props.set(name, { type: parseType(), required: !opt });
			}
			if (peek() === ";" || peek() === ",") eat();
		}
		eat("}");
		return { t: "obj", props, index, open: props.size === 0 && index === null };
	}
	function skipBlock() {
		// from "{" to its matching "}"
		let depth = 0;
		do {
			const t = eat();
			if (t === "{") depth++;
			else if (t === "}") depth--;
		} while (depth > 0);
	}
	function skipStatement() {
		while (i < tok.length && peek() !== ";") {
			if (peek() === "{") {
				skipBlock(); // a class or function body ends the statement
				return;
			}
			eat();
		}
		if (i < tok.length) eat(";");
	}

	while (i < tok.length) {
		if (peek() === "export" && tok[i + 1] === "declare" && ["type", "interface"].includes(tok[i + 2]))
			tok.splice(i + 1, 1); // "export declare type" reads as "export type"
		if (peek() === "import") {
			eat();
			if (peek() === "type") eat();
			if (peek() !== "{") {
				skipStatement();
				continue;
			}
			eat("{");
			const names = [];
			while (peek() !== "}") {
				const name = eat();
				let local = name;
				if (peek() === "as") {
					eat();
					local = eat();
				}
				names.push([name, local]);
				if (peek() === ",") eat();
			}
			eat("}");
			eat("from");
			const from = resolveDts(file, JSON.parse(eat()));
			for (const [name, local] of names) imports.set(local, { file: from, name });
			if (peek() === ";") eat();
		} else if (peek() === "export" && (tok[i + 1] === "{" || (tok[i + 1] === "type" && tok[i + 2] === "{"))) {
			eat();
			if (peek() === "type") eat();
			eat("{");
			while (peek() !== "}") {
				const local = eat();
				let name = local;
				if (peek() === "as") {
					eat();
					name = eat();
				}
				aliases.set(name, local);
				if (peek() === ",") eat();
			}
			eat("}");
			if (peek() === "from") throw new Error(`${file}: re-export from another file is not supported`);
			if (peek() === ";") eat();
		} else if (peek() === "export" && tok[i + 1] === "interface") {
			eat();
			eat();
			const name = eat();
			if (peek() === "extends") {
				eat();
				const base = eat();
				// TypeMeta is apiVersion + kind, which every interface that extends it also lists
				if (base !== "TypeMeta") throw new Error(`${file}: interface ${name} extends ${base}`);
			}
			eat("{");
			decl.set(name, parseMembers());
		} else if (peek() === "export" && tok[i + 1] === "type" && /^[A-Za-z_$]/.test(tok[i + 2])) {
			eat();
			eat();
			const name = eat();
			eat("=");
			decl.set(name, parseType());
			if (peek() === ";") eat();
		} else {
			skipStatement();
		}
	}
	return mod;
}

/** Follows a reference (local declaration, export alias or import) to its type. */
function deref(mod, name, seen = 0) {
	if (seen > 20) throw new Error(`reference loop at ${name} in ${mod.file}`);
	if (mod.decl.has(name)) return mod.decl.get(name);
	if (mod.aliases.has(name) && mod.aliases.get(name) !== name) return deref(mod, mod.aliases.get(name), seen + 1);
	if (mod.imports.has(name)) {
		const imp = mod.imports.get(name);
		return deref(loadFile(imp.file), imp.name, seen + 1);
	}
	throw new Error(`${mod.file}: no declaration of ${name}`);
}

/* ---- models by apiVersion/kind ----------------------------------------------------------- */

function declFile(apiVersion, kind) {
	const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
	let dir;
	if (group === "") dir = `kubernetes-models/${version}`;
	else if (group.endsWith(".knative.dev")) dir = `@kubernetes-models/knative/${group}/${version}`;
	else if (group === "monitoring.coreos.com") dir = `@kubernetes-models/prometheus-operator/${group}/${version}`;
	else dir = `kubernetes-models/${group}/${version}`;
	return path.join(NODE_MODULES, dir, `${kind}.d.ts`);
}

/** The declared type of a whole object, or null when no installed package declares it. */
export function declaredType(apiVersion, kind) {
	const file = declFile(apiVersion, kind);
	if (!fs.existsSync(file)) return null;
	return deref(loadFile(file), `I${kind}`);
}

/** The declared type of a core v1 kind (Container, PodSpec, ...). */
export function coreType(kind) {
	return declaredType("v1", kind);
}

/* ---- checking a value against a declared type -------------------------------------------- */

const typeName = (v) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

function check(value, type, where, errors) {
	if (type.t === "ref") type = deref(type.mod, type.name);
	switch (type.t) {
		case "any":
			return;
		case "null":
			if (value !== null) errors.push(`${where}: ${typeName(value)} where null is expected`);
			return;
		case "string":
		case "number":
		case "boolean":
			if (typeof value !== type.t) errors.push(`${where}: ${typeName(value)} where a ${type.t} is expected`);
			return;
		case "lit":
			if (value !== type.v) errors.push(`${where}: ${JSON.stringify(value)} is not ${JSON.stringify(type.v)}`);
			return;
		case "array":
			if (!Array.isArray(value)) {
				errors.push(`${where}: ${typeName(value)} where an array is expected`);
				return;
			}
			value.forEach((v, k) => check(v, type.of, `${where}[${k}]`, errors));
			return;
		case "union": {
			const alts = type.of.map((a) => (a.t === "ref" ? deref(a.mod, a.name) : a));
			if (alts.every((a) => a.t === "lit")) {
				if (!alts.some((a) => a.v === value))
					errors.push(`${where}: ${JSON.stringify(value)} is not one of ${alts.map((a) => JSON.stringify(a.v)).join(", ")}`);
				return;
			}
			for (const a of alts) {
				const e = [];
				check(value, a, where, e);
				if (e.length === 0) return;
			}
			errors.push(`${where}: ${typeName(value)} ${JSON.stringify(value)} matches none of its types`);
			return;
		}
		case "obj": {
			if (typeName(value) !== "object") {
				errors.push(`${where}: ${typeName(value)} where an object is expected`);
				return;
			}
			if (type.open) return;
			for (const [k, v] of Object.entries(value)) {
				const p = type.props.get(k);
				if (p) check(v, p.type, `${where}.${k}`, errors);
				else if (type.index) check(v, type.index, `${where}.${k}`, errors);
				else errors.push(`${where}.${k}: unknown field (known: ${[...type.props.keys()].join(", ")})`);
			}
			for (const [k, p] of type.props)
				if (p.required && value[k] === undefined) errors.push(`${where}.${k}: required field missing`);
			return;
		}
		default:
			throw new Error(`unknown type node ${type.t}`);
	}
}

/* ---- rules the schemas state only in prose ----------------------------------------------- */

// ISO-8601 duration as Knative parses it (PnYnMnDTnHnMnS, PnW), e.g. PT1S, PT0.5S, P1DT2H.
const ISO8601_DURATION =
	/^P(?!$)(\d+(?:[.,]\d+)?Y)?(\d+(?:[.,]\d+)?M)?(\d+(?:[.,]\d+)?W)?(\d+(?:[.,]\d+)?D)?(T(?=\d)(\d+(?:[.,]\d+)?H)?(\d+(?:[.,]\d+)?M)?(\d+(?:[.,]\d+)?S)?)?$/;

export function isIsoDuration(s) {
	return typeof s === "string" && ISO8601_DURATION.test(s);
}

function checkDelivery(d, where, errors) {
	if (d === undefined) return;
	if (d.backoffPolicy !== undefined && !["linear", "exponential"].includes(d.backoffPolicy))
		errors.push(`${where}.backoffPolicy: ${JSON.stringify(d.backoffPolicy)} is not one of "linear", "exponential"`);
	for (const k of ["backoffDelay", "timeout"])
		if (d[k] !== undefined && !isIsoDuration(d[k]))
			errors.push(`${where}.${k}: ${JSON.stringify(d[k])} is not an ISO-8601 duration`);
	if (d.retry !== undefined && !(Number.isInteger(d.retry) && d.retry >= 0))
		errors.push(`${where}.retry: ${JSON.stringify(d.retry)} is not an integer >= 0`);
}

function checkDestination(dest, where, errors) {
	if (dest === undefined) {
		errors.push(`${where}: required field missing`);
		return;
	}
	if (!dest.ref && !dest.uri) errors.push(`${where}: needs a ref or a uri`);
	if (dest.ref) for (const k of ["apiVersion", "kind", "name"]) if (!dest.ref[k]) errors.push(`${where}.ref.${k}: required field missing`);
}

const RESOURCE_NAME = /^(cpu|memory|ephemeral-storage|hugepages-[0-9]+[KMGT]i?|[a-z0-9.-]+\/[a-z0-9._-]+)$/;

function checkResources(c, where, errors) {
	for (const k of ["limits", "requests"])
		for (const name of Object.keys(c.resources?.[k] || {}))
			if (!RESOURCE_NAME.test(name)) errors.push(`${where}.resources.${k}.${name}: not a resource name`);
}

function checkPodSpec(pod, where, errors) {
	for (const [k, c] of (pod.containers || []).entries()) checkResources(c, `${where}.containers[${k}]`, errors);
}

/* ---- the entry point --------------------------------------------------------------------- */

/**
 * Every strict-validation error of an object, as "<kind>/<name> <path>: <what>" strings; empty
 * when it is valid. Throws when no installed package declares the object's kind.
 */
export function strictErrors(obj) {
	const id = `${obj.kind}/${obj.metadata?.name}`;
	const type = declaredType(obj.apiVersion, obj.kind);
	if (!type) throw new Error(`no declaration for ${obj.apiVersion} ${obj.kind}`);
	const errors = [];
	check(obj, type, id, errors);
	const spec = obj.spec || {};
	if (obj.apiVersion === "eventing.knative.dev/v1" && obj.kind === "Broker") checkDelivery(spec.delivery, `${id}.spec.delivery`, errors);
	if (obj.apiVersion === "eventing.knative.dev/v1" && obj.kind === "Trigger") {
		if (!spec.broker) errors.push(`${id}.spec.broker: required field missing`);
		checkDestination(spec.subscriber, `${id}.spec.subscriber`, errors);
		checkDelivery(spec.delivery, `${id}.spec.delivery`, errors);
	}
	if (obj.apiVersion === "serving.knative.dev/v1" && obj.kind === "Service") {
		// Knative's schema types its pod template loosely: hold it to the core PodSpec too.
		const tpl = spec.template || {};
		if (tpl.spec) {
			const { containerConcurrency, timeoutSeconds, responseStartTimeoutSeconds, idleTimeoutSeconds, ...core } =
				structuredClone(tpl.spec);
			// Knative fills an omitted httpGet probe port with the container port; the core
			// schema requires one.
			for (const c of core.containers || [])
				for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe])
					if (probe?.httpGet && probe.httpGet.port === undefined) probe.httpGet.port = c.ports?.[0]?.containerPort ?? 8080;
			check(core, coreType("PodSpec"), `${id}.spec.template.spec`, errors);
			checkPodSpec(tpl.spec, `${id}.spec.template.spec`, errors);
		}
	}
	for (const k of ["StatefulSet", "Deployment", "DaemonSet", "Job"])
		if (obj.kind === k && spec.template?.spec) checkPodSpec(spec.template.spec, `${id}.spec.template.spec`, errors);
	return errors;
}

/** Throws an Error listing every strict-validation error of an object. */
export function validateStrict(obj) {
	const errors = strictErrors(obj);
	if (errors.length) throw new Error(errors.join("\n"));
}
