// Offline checks of everything under k8s/: every kustomization renders, every rendered object
// validates against its schema, and the rendered objects say what the deployment promises
// (delivery spec, probes, resources, securityContext, no secrets, images that solution.sh
// builds, min-scale on the sinks, monitoring wired to the Helm release). No cluster needed.
import { test, describe, before } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
	ROOT,
	which,
	kustomize,
	toObjects,
	readObjects,
	modelFor,
	containerModel,
	podSpecs,
	shellVar,
} from "../k8s/manifests.mjs";
import { strictErrors } from "../k8s/strict.mjs";

const KUBECTL = which("kubectl");
const skip = KUBECTL ? false : "kubectl (with kustomize) is not installed: cannot render k8s/";

// Kustomizations that must render, and what each must contain at least.
const KUSTOMIZATIONS = ["k8s/base", "k8s/overlays/minikube", "k8s/monitoring"];

/*
 * Objects that no installed model package describes and that are accepted anyway. Each entry
 * says why. Empty today: kubernetes-models covers core/apps, @kubernetes-models/knative covers
 * Service, Broker, Trigger and SinkBinding, and prometheus-operator covers ServiceMonitor and
 * PrometheusRule. Anything new without a model fails until it is added here with a reason.
 */
const NO_MODEL_ALLOWED = new Set([]);

/*
 * Knative fills an omitted httpGet probe port with the container port (and rejects any other
 * port); the core schema requires one, so fill it the same way before validating.
 */
function withProbePorts(obj, container) {
	if (obj.apiVersion !== "serving.knative.dev/v1") return container;
	const c = structuredClone(container);
	for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe])
		if (probe?.httpGet && probe.httpGet.port === undefined) probe.httpGet.port = c.ports[0].containerPort;
	return c;
}

const rendered = {};
before(() => {
	if (skip) return;
	for (const k of KUSTOMIZATIONS) rendered[k] = toObjects(kustomize(k));
});

const app = () => rendered["k8s/overlays/minikube"];
const mon = () => rendered["k8s/monitoring"];
const find = (objs, apiVersion, kind, name) =>
	objs.find((o) => o.apiVersion === apiVersion && o.kind === kind && o.metadata.name === name);
const ksvc = (name) => find(app(), "serving.knative.dev/v1", "Service", name);

// The one fixed tag scripts/images.sh gives every service image besides its content tag ($t).
function builtTag() {
	const text = fs.readFileSync(path.join(ROOT, "scripts/images.sh"), "utf8");
	const tags = [...text.matchAll(/-t "dev\.local\/\$s:([A-Za-z0-9_.-]+)"/g)].map((m) => m[1]).filter((x) => x !== "buildkit");
	assert.equal(tags.length, 1, `scripts/images.sh build tags: ${tags}`);
	return tags[0];
}

describe("k8s renders", { skip }, () => {
	for (const k of KUSTOMIZATIONS) {
		test(`kubectl kustomize ${k}`, () => {
			assert.ok(rendered[k].length >= 5, `${k} rendered only ${rendered[k].length} objects`);
			for (const o of rendered[k]) assert.ok(o.apiVersion && o.kind && o.metadata?.name);
		});
	}

	test("every rendered object validates against its schema", async () => {
		const Container = await containerModel();
		const knativePatches = fs
			.readdirSync(path.join(ROOT, "k8s/knative"))
			.filter((f) => f.endsWith(".yaml"))
			.flatMap((f) => readObjects(`k8s/knative/${f}`));
		const all = [...KUSTOMIZATIONS.flatMap((k) => rendered[k]), ...knativePatches];
		let checked = 0;
		for (const o of all) {
			const id = `${o.apiVersion} ${o.kind} ${o.metadata.name}`;
			const Model = await modelFor(o);
			if (!Model) {
				assert.ok(NO_MODEL_ALLOWED.has(`${o.apiVersion}/${o.kind}`), `no model for ${id}`);
				continue;
			}
			assert.doesNotThrow(() => new Model(o).validate(), `${id} is invalid`);
			// The models accept unknown fields; the strict check rejects them (tests/k8s/strict.mjs).
			assert.deepEqual(strictErrors(o), [], `${id}: strict validation`);
			// Knative's schema leaves the pod template open: check its containers as core ones.
			for (const { pod } of podSpecs(o))
				for (const c of pod.containers)
					assert.doesNotThrow(() => new Container(withProbePorts(o, c)).validate(), `${id} container ${c.name}`);
			checked++;
		}
		assert.ok(checked >= 25, `only ${checked} objects validated`);
	});

	/*
	 * Misspelled or invalid manifests, each made from a rendered object, that the models'
	 * validators accept and the strict check must reject: [what, object, change, error].
	 */
	const rename = (o, from, to) => {
		o[to] = o[from];
		delete o[from];
	};
	const broker = () => structuredClone(find(app(), "eventing.knative.dev/v1", "Broker", "bookstore-broker"));
	const trigger = () => structuredClone(app().find((o) => o.kind === "Trigger"));
	const ksvcCopy = () => structuredClone(ksvc("file-sink"));
	const kc = (o) => o.spec.template.spec.containers[0];
	const statefulset = () => structuredClone(find(app(), "apps/v1", "StatefulSet", "postgresql"));
	const BAD = [
		["Broker delivery.retires", broker, (o) => rename(o.spec.delivery, "retry", "retires"), /delivery\.retires: unknown field/],
		["Broker backoffPolicy exponentail", broker, (o) => (o.spec.delivery.backoffPolicy = "exponentail"), /backoffPolicy: "exponentail" is not one of/],
		["Broker backoffDelay \"1 second\"", broker, (o) => (o.spec.delivery.backoffDelay = "1 second"), /backoffDelay: "1 second" is not an ISO-8601 duration/],
		["Broker retry -5", broker, (o) => (o.spec.delivery.retry = -5), /retry: -5 is not an integer >= 0/],
		["Trigger without subscriber", trigger, (o) => delete o.spec.subscriber, /spec\.subscriber: required field missing/],
		["Trigger spec.fitler", trigger, (o) => (o.spec.fitler = { attributes: { type: "x" } }), /spec\.fitler: unknown field/],
		["Trigger delivery backoffDelay PT1", trigger, (o) => (o.spec.delivery = { backoffDelay: "PT1" }), /not an ISO-8601 duration/],
		["container imagee", ksvcCopy, (o) => rename(kc(o), "image", "imagee"), /containers\[0\]\.imagee: unknown field/],
		["container readinesProbe", ksvcCopy, (o) => rename(kc(o), "readinessProbe", "readinesProbe"), /containers\[0\]\.readinesProbe: unknown field/],
		["container limits.memroy", ksvcCopy, (o) => rename(kc(o).resources.limits, "memory", "memroy"), /limits\.memroy: not a resource name/],
		["container runAsNonRot", ksvcCopy, (o) => rename(kc(o).securityContext, "runAsNonRoot", "runAsNonRot"), /securityContext\.runAsNonRot: unknown field/],
		["StatefulSet container imagee", statefulset, (o) => rename(kc(o), "image", "imagee"), /containers\[0\]\.imagee: unknown field/],
		["StatefulSet limits.memroy", statefulset, (o) => rename(kc(o).resources.limits, "memory", "memroy"), /limits\.memroy: not a resource name/],
		["StatefulSet spec.replica", statefulset, (o) => (o.spec.replica = 1), /spec\.replica: unknown field/],
		["StatefulSet imagePullPolicy Sometimes", statefulset, (o) => (kc(o).imagePullPolicy = "Sometimes"), /imagePullPolicy: "Sometimes" is not one of/],
	];

	for (const [what, make, change, error] of BAD) {
		test(`strict validation rejects ${what}`, async () => {
			const o = make();
			assert.deepEqual(strictErrors(o), [], "the unchanged object is valid");
			change(o);
			const errors = strictErrors(o);
			assert.ok(errors.some((e) => error.test(e)), `want ${error}, got:\n${errors.join("\n")}`);
		});
	}

	test("the models' own schemas still reject a wrongly typed field", async () => {
		const b = broker();
		b.spec.delivery.retry = "two";
		const Model = await modelFor(b);
		assert.throws(() => new Model(b).validate(), /retry/);
	});
});

describe("the application (k8s/overlays/minikube)", { skip }, () => {
	test("Broker delivery: retry 2, exponential from PT1S, dead letters to dead-letter-logger", () => {
		const b = find(app(), "eventing.knative.dev/v1", "Broker", "bookstore-broker");
		assert.ok(b, "Broker bookstore-broker is rendered");
		assert.equal(b.metadata.namespace, "bookstore");
		assert.equal(b.metadata.annotations["eventing.knative.dev/broker.class"], "MTChannelBasedBroker");
		const d = b.spec.delivery;
		assert.equal(d.retry, 2);
		assert.equal(d.backoffPolicy, "exponential");
		assert.equal(d.backoffDelay, "PT1S");
		assert.deepEqual(
			{ apiVersion: d.deadLetterSink.ref.apiVersion, kind: d.deadLetterSink.ref.kind, name: d.deadLetterSink.ref.name },
			{ apiVersion: "serving.knative.dev/v1", kind: "Service", name: "dead-letter-logger" },
		);
		assert.ok(ksvc("dead-letter-logger"), "the dead-letter sink is deployed");
	});

	// The in-memory channel's default (sync) handler answers the sender only once every
	// Trigger's delivery has ended and cancels them when the sender gives up; the Brokers pass
	// this annotation to their trigger channels (k8s/base/eventing/broker.yaml says why).
	test("every Broker's trigger channel answers once it holds the event (messaging.knative.dev/async-handler)", () => {
		const brokers = app().filter((o) => o.kind === "Broker");
		assert.deepEqual(brokers.map((b) => b.metadata.name).sort(), ["badword-broker", "bookstore-broker"]);
		for (const b of brokers)
			assert.equal(b.metadata.annotations?.["messaging.knative.dev/async-handler"], "true", b.metadata.name);
	});

	test("Triggers reach deployed Services; file-sink's inherits the Broker's delivery, db-insert's rides out a restart", () => {
		const triggers = app().filter((o) => o.kind === "Trigger");
		assert.deepEqual(triggers.map((t) => t.metadata.name).sort(),
			["badword-noti-trigger", "badword-notification-trigger", "db-insert-trigger", "file-sink-trigger", "sequence-trigger"]);
		for (const t of triggers) {
			const ref = t.spec.subscriber.ref;
			assert.equal(t.spec.broker, t.metadata.name === "badword-notification-trigger" ? "badword-broker" : "bookstore-broker");
			const target = { Service: () => ksvc(ref.name), Sequence: () => find(app(), "flows.knative.dev/v1", "Sequence", ref.name),
				Broker: () => find(app(), "eventing.knative.dev/v1", "Broker", ref.name) }[ref.kind];
			assert.ok(target && target(), `${t.metadata.name} subscriber ${ref.kind} ${ref.name} is deployed`);
		}
		const fs = triggers.find((t) => t.metadata.name === "file-sink-trigger");
		assert.equal(fs.spec.delivery, undefined, "file-sink-trigger overrides the delivery (the failure demo is the Broker's)");
		const d = triggers.find((t) => t.metadata.name === "db-insert-trigger").spec.delivery;
		assert.ok(d, "db-insert-trigger has its own delivery");
		assert.equal(d.retry, 6);
		assert.equal(d.backoffPolicy, "exponential");
		assert.equal(d.backoffDelay, "PT1S");
		assert.deepEqual(
			{ apiVersion: d.deadLetterSink.ref.apiVersion, kind: d.deadLetterSink.ref.kind, name: d.deadLetterSink.ref.name },
			{ apiVersion: "serving.knative.dev/v1", kind: "Service", name: "dead-letter-logger" },
		);
	});

	test("moderation: the Sequence of the two steps replies to the broker; good reviews are stored, bad ones go to badword-broker", () => {
		const seq = find(app(), "flows.knative.dev/v1", "Sequence", "sequence");
		assert.ok(seq, "Sequence sequence is rendered");
		assert.deepEqual(seq.spec.channelTemplate, { apiVersion: "messaging.knative.dev/v1", kind: "InMemoryChannel" });
		assert.deepEqual(seq.spec.steps.map((st) => [st.ref.kind, st.ref.name]), [["Service", "bad-word-filter"], ["Service", "sentiment-analysis"]]);
		for (const st of seq.spec.steps) {
			assert.ok(ksvc(st.ref.name), `step ${st.ref.name} is deployed`);
			assert.equal(st.delivery.retry, 3);
			assert.equal(st.delivery.deadLetterSink.ref.name, "dead-letter-logger");
		}
		assert.deepEqual([seq.spec.reply.ref.kind, seq.spec.reply.ref.name], ["Broker", "bookstore-broker"]);
		const trig = (name) => find(app(), "eventing.knative.dev/v1", "Trigger", name);
		assert.deepEqual(trig("sequence-trigger").spec.filter.attributes, { type: "new-review-comment" });
		assert.deepEqual(trig("file-sink-trigger").spec.filter.attributes, { type: "new-review-comment" });
		assert.deepEqual(trig("db-insert-trigger").spec.filter.attributes, { type: "moderated-comment", badwordfilter: "good" });
		assert.deepEqual(trig("badword-noti-trigger").spec.filter.attributes, { type: "moderated-comment", badwordfilter: "bad" });
		assert.deepEqual([trig("badword-noti-trigger").spec.subscriber.ref.kind, trig("badword-noti-trigger").spec.subscriber.ref.name], ["Broker", "badword-broker"]);
		const wb = find(app(), "eventing.knative.dev/v1", "Broker", "badword-broker");
		assert.ok(wb, "Broker badword-broker is rendered");
		assert.equal(wb.spec.delivery.retry, 3);
		assert.equal(wb.spec.delivery.deadLetterSink.ref.name, "dead-letter-logger");
		const n = trig("badword-notification-trigger");
		assert.equal(n.spec.broker, "badword-broker");
		assert.deepEqual([n.spec.subscriber.ref.name, n.spec.subscriber.uri], ["file-sink", "/bad-reviews"]);
	});

	test("SinkBinding gives node-server the broker as K_SINK", () => {
		const sb = app().find((o) => o.kind === "SinkBinding");
		assert.ok(sb, "a SinkBinding is rendered");
		assert.deepEqual(
			[sb.spec.subject.apiVersion, sb.spec.subject.kind, sb.spec.subject.name],
			["serving.knative.dev/v1", "Service", "node-server"],
		);
		assert.deepEqual([sb.spec.sink.ref.kind, sb.spec.sink.ref.name], ["Broker", "bookstore-broker"]);
	});

	test("every container has probes, requests and limits, and a locked-down securityContext", () => {
		const all = [...app(), ...mon()].flatMap(podSpecs);
		assert.ok(all.length >= 7, `only ${all.length} pod templates`);
		for (const { where, pod } of all) {
			const podSc = pod.securityContext || {};
			for (const c of pod.containers) {
				const at = `${where} container ${c.name}`;
				assert.ok(c.readinessProbe, `${at}: readinessProbe`);
				assert.ok(c.livenessProbe, `${at}: livenessProbe`);
				for (const kind of ["requests", "limits"])
					for (const r of ["cpu", "memory"])
						assert.ok(c.resources?.[kind]?.[r], `${at}: resources.${kind}.${r}`);
				const sc = c.securityContext || {};
				assert.equal(sc.runAsNonRoot ?? podSc.runAsNonRoot, true, `${at}: runAsNonRoot`);
				assert.equal(sc.readOnlyRootFilesystem, true, `${at}: readOnlyRootFilesystem`);
				assert.equal(sc.allowPrivilegeEscalation, false, `${at}: allowPrivilegeEscalation`);
				assert.deepEqual(sc.capabilities?.drop, ["ALL"], `${at}: capabilities.drop`);
				assert.equal((sc.seccompProfile ?? podSc.seccompProfile)?.type, "RuntimeDefault", `${at}: seccomp`);
			}
		}
	});

	test("Knative Services keep the runtime contract: one http1 port, /readyz and /healthz", () => {
		for (const name of ["node-server", "db-service", "file-sink", "dead-letter-logger", "bad-word-filter", "sentiment-analysis"]) {
			const s = ksvc(name);
			assert.ok(s, `${name} is deployed`);
			const [c] = s.spec.template.spec.containers;
			assert.equal(s.spec.template.spec.containers.length, 1);
			assert.deepEqual(c.ports, [{ name: "http1", containerPort: 8080 }]);
			assert.equal(c.readinessProbe.httpGet.path, "/readyz");
			assert.equal(c.livenessProbe.httpGet.path, "/healthz");
			const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
			assert.ok(!("PORT" in env), `${name}: PORT is Knative's to set`);
			assert.equal(env.OTEL_SERVICE_NAME, name);
			assert.match(env.OTEL_EXPORTER_OTLP_ENDPOINT, /^http:\/\/otel-collector\.observability\.svc\.cluster\.local:4318$/);
			assert.equal(env.OTEL_METRICS_EXPORTER, "otlp");
		}
	});

	test("only node-server is public; the others are cluster-local and reached by their svc.cluster.local address", () => {
		const names = ["node-server", "db-service", "file-sink", "dead-letter-logger", "bad-word-filter", "sentiment-analysis"];
		const VIS = "networking.knative.dev/visibility";
		for (const name of names) {
			const want = name === "node-server" ? undefined : "cluster-local";
			assert.equal(ksvc(name).metadata.labels?.[VIS], want, `${name}: ${VIS}`);
		}
		// in-cluster callers use the cluster-local address (the external host is not routed for them)
		const host = /^http:\/\/([a-z-]+)\.bookstore\.svc\.cluster\.local(\/|$)/;
		for (const name of names)
			for (const e of ksvc(name).spec.template.spec.containers[0].env) {
				if (!/^https?:\/\//.test(e.value || "") || !names.some((n) => e.value.includes(`//${n}.`))) continue;
				assert.match(e.value, host, `${name}: ${e.name}`);
			}
		// nothing a user is told to open or curl uses a cluster-local Service's Kourier host
		const texts = ["solution.sh", "README.md", ...fs.readdirSync(path.join(ROOT, "docs")).map((f) => `docs/${f}`), "k8s/knative/config-domain.yaml", "k8s/knative/README.md"];
		for (const f of texts) {
			if (!f.endsWith(".md") && !f.endsWith(".sh") && !f.endsWith(".yaml")) continue;
			const text = fs.readFileSync(path.join(ROOT, f), "utf8");
			for (const m of text.matchAll(/\b([a-z-]+)\.bookstore\.(?:127\.0\.0\.1\.sslip\.io|\$host)\b/g))
				assert.equal(m[1], "node-server", `${f}: ${m[0]} is cluster-local, not routed through Kourier`);
		}
	});

	test("node-server never runs a second pod (its live feed and journeys are in memory)", () => {
		const a = ksvc("node-server").spec.template.metadata.annotations || {};
		assert.equal(a["autoscaling.knative.dev/max-scale"], "1", "node-server max-scale");
	});

	test("file-sink and dead-letter-logger keep one pod and write only /data and /tmp", () => {
		for (const name of ["file-sink", "dead-letter-logger"]) {
			const t = ksvc(name).spec.template;
			assert.equal(t.metadata.annotations["autoscaling.knative.dev/min-scale"], "1", `${name} min-scale`);
			const [c] = t.spec.containers;
			const mounts = Object.fromEntries(c.volumeMounts.map((m) => [m.mountPath, m.name]));
			assert.deepEqual(Object.keys(mounts).sort(), ["/data", "/tmp"]);
			const vol = t.spec.volumes.find((v) => v.name === mounts["/data"]);
			assert.ok(vol.emptyDir, `${name}: /data is an emptyDir`);
			assert.equal(c.env.find((e) => e.name === "DATA_DIR").value, "/data");
		}
		assert.equal(ksvc("file-sink").spec.template.spec.containers[0].env.find((e) => e.name === "FAILURE_RATE").value, "0.5");
	});

	test("no literal secrets: no Secret objects, no password-like env values", () => {
		const all = [...app(), ...mon()];
		assert.deepEqual(all.filter((o) => o.kind === "Secret").map((o) => o.metadata.name), []);
		const userinfo = /:\/\/[^/\s:@]+:([^@\s]+)@/;
		for (const { where, pod } of all.flatMap(podSpecs))
			for (const c of pod.containers)
				for (const e of c.env || []) {
					if (e.value === undefined) continue;
					assert.doesNotMatch(e.name, /PASSWORD|SECRET|TOKEN|API_?KEY/i, `${where}: ${e.name} has a literal value`);
					const m = e.value.match(userinfo);
					if (m) assert.match(m[1], /^\$\([A-Z_]+\)$/, `${where}: ${e.name} embeds a password`);
				}
		// the db credentials come from the Secret solution.sh generates
		const db = ksvc("db-service").spec.template.spec.containers[0].env;
		assert.equal(db.find((e) => e.name === "PGPASSWORD").valueFrom.secretKeyRef.name, "postgresql-secret");
		const pg = find(app(), "apps/v1", "StatefulSet", "postgresql").spec.template.spec.containers[0].env;
		assert.equal(pg.find((e) => e.name === "POSTGRES_PASSWORD").valueFrom.secretKeyRef.name, "postgresql-secret");
		for (const o of all.filter((x) => x.kind === "ConfigMap"))
			for (const [k, v] of Object.entries(o.data || {}))
				assert.doesNotMatch(v, /password\s*[:=]\s*["']?\w{4,}/i, `ConfigMap ${o.metadata.name} ${k}`);
	});

	test("every dev.local image is one that solution.sh builds, and every image is pinned", () => {
		const built = shellVar("SERVICES");
		const deployed = shellVar("DEPLOYED");
		const dockerfile = fs.readFileSync(path.join(ROOT, "docker/Dockerfile"), "utf8");
		for (const s of built) assert.match(dockerfile, new RegExp(`^FROM runtime AS ${s}$`, "m"), `Dockerfile target ${s}`);
		const images = [...app(), ...mon()].flatMap(podSpecs).flatMap(({ pod }) => pod.containers.map((c) => c.image));
		const local = images.filter((i) => i.startsWith("dev.local/"));
		assert.deepEqual(local.map((i) => i.split(":")[0].slice("dev.local/".length)).sort(), [...deployed].sort());
		for (const i of local) {
			assert.ok(built.includes(i.split(":")[0].slice("dev.local/".length)), `${i} is built by solution.sh`);
			assert.equal(i.split(":")[1], builtTag(), `${i}: the minikube overlay's tag is the fixed one scripts/images.sh builds`);
		}
		for (const i of images) {
			const tag = i.includes("@sha256:") ? "digest" : i.slice(i.lastIndexOf("/") + 1).split(":")[1];
			assert.ok(tag && tag !== "latest", `${i} is not pinned`);
		}
		assert.ok(!deployed.includes("local-broker"), "local-broker is built, never deployed");
	});

	test("a plain `kubectl apply -k k8s/overlays/minikube` names a tag that is built, and says what else it needs", () => {
		const tag = builtTag();
		const file = fs.readFileSync(path.join(ROOT, "k8s/overlays/minikube/kustomization.yaml"), "utf8");
		const comment = file.split("\n").filter((l) => l.startsWith("#")).join("\n");
		const tags = [...file.matchAll(/^\s+newTag:\s*"?([^"\s]+)"?\s*$/gm)].map((m) => m[1]);
		assert.deepEqual([...new Set(tags)], [tag], "every image of the overlay has the tag scripts/images.sh builds");
		assert.match(comment, new RegExp(`\`${tag}\` is the tag`), "the comment names the tag");
		assert.match(comment, /scripts\/images\.sh/, "the comment says what builds it");
		assert.match(comment, /docker-env/, "the comment says to build in minikube's daemon");
		assert.match(comment, /postgresql-secret/, "the comment names the Secret the path needs");
		assert.doesNotMatch(comment, /`dev`/, "no tag that nothing builds");
	});

	test("PostgreSQL: pinned image, PVC, pg_isready probes, headless Service", () => {
		const ss = find(app(), "apps/v1", "StatefulSet", "postgresql");
		const c = ss.spec.template.spec.containers[0];
		assert.match(c.image, /^postgres:15\.\d+-bookworm$/);
		assert.match(c.readinessProbe.exec.command.join(" "), /pg_isready/);
		assert.match(c.livenessProbe.exec.command.join(" "), /pg_isready/);
		assert.equal(ss.spec.volumeClaimTemplates[0].spec.resources.requests.storage, "1Gi");
		const svc = find(app(), "v1", "Service", "postgresql");
		assert.equal(svc.spec.clusterIP, "None");
		assert.equal(ss.spec.serviceName, "postgresql");
	});
});

describe("the observability stack (k8s/monitoring, k8s/knative, k8s/helm)", { skip }, () => {
	const values = () => fs.readFileSync(path.join(ROOT, "k8s/helm/kube-prometheus-stack-values.yaml"), "utf8");

	test("ServiceMonitor and PrometheusRules carry the Helm release's label, and the values select them all", () => {
		const release = shellVar("HELM_RELEASE");
		assert.equal(release, "kube-prometheus-stack");
		const selected = mon().filter((o) => ["ServiceMonitor", "PrometheusRule"].includes(o.kind));
		assert.ok(selected.length >= 3);
		for (const o of selected) assert.equal(o.metadata.labels.release, release, `${o.kind}/${o.metadata.name}`);
		for (const key of ["serviceMonitorSelectorNilUsesHelmValues", "ruleSelectorNilUsesHelmValues"])
			assert.match(values(), new RegExp(`^\\s+${key}: false$`, "m"));
		const sm = mon().find((o) => o.kind === "ServiceMonitor");
		const svc = find(mon(), "v1", "Service", sm.metadata.name);
		assert.ok(svc, "the ServiceMonitor's Service exists");
		for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(svc.metadata.labels[k], v);
		const ports = svc.spec.ports.map((p) => p.name);
		for (const ep of sm.spec.endpoints) assert.ok(ports.includes(ep.port), `port ${ep.port}`);
		assert.equal(sm.spec.endpoints.find((e) => e.port === "prom-exporter").honorLabels, true);
	});

	test("dashboards are ConfigMaps with the sidecar's label, and parse as Grafana dashboards", () => {
		assert.match(values(), /^\s+label: grafana_dashboard$/m);
		const boards = mon().filter((o) => o.kind === "ConfigMap" && o.metadata.labels?.grafana_dashboard === "1");
		const titles = [];
		for (const cm of boards)
			for (const text of Object.values(cm.data)) {
				const d = JSON.parse(text);
				titles.push(d.title);
				assert.ok(d.uid && d.panels.length >= 5, d.title);
				const linked = d.panels.filter((p) => (p.fieldConfig?.defaults?.links || []).some((l) => l.url.includes(":16686/search")));
				assert.ok(linked.length >= d.panels.length / 2, `${d.title}: panels link to Jaeger traces`);
				for (const p of d.panels) assert.ok(p.targets.length && p.targets.every((t) => t.expr), `${d.title}/${p.title}`);
			}
		assert.deepEqual(titles.sort(), ["Bookstore events", "Services"]);
	});

	test("the events dashboard shows reviews, outcomes, retries, dead letters and latency", () => {
		const cm = find(mon(), "v1", "ConfigMap", "dashboard-bookstore-events");
		const d = JSON.parse(Object.values(cm.data)[0]);
		const want = [
			[/reviews per second/i, /route="\/add"/],
			[/file-sink outcomes/i, /sum by \(outcome\)/],
			[/retries/i, /filesink_deliveries_total/],
			[/dead letters per minute by destination and code/i, /sum by \(destination, code\)/],
			[/latency p50 \/ p99/i, /histogram_quantile\(0\.99/],
		];
		for (const [title, expr] of want) {
			const p = d.panels.find((x) => title.test(x.title));
			assert.ok(p, `panel ${title}`);
			assert.ok(p.targets.some((t) => expr.test(t.expr)), `${p.title}: ${expr}`);
		}
	});

	test("alert rules: dead letters, file-sink errors, PostgreSQL down, SLO burn-rate pairs", () => {
		const rules = mon().filter((o) => o.kind === "PrometheusRule").flatMap((o) => o.spec.groups.flatMap((g) => g.rules));
		const alerts = Object.fromEntries(rules.filter((r) => r.alert).map((r) => [r.alert, r]));
		for (const a of ["BookstoreDeadLetters", "FileSinkErrorRatioHigh", "PostgreSQLDown"]) assert.ok(alerts[a], a);
		const pairs = Object.values(alerts)
			.filter((a) => a.labels.slo === "node-server-availability")
			.map((a) => [a.labels.long_window, a.labels.short_window, Number(a.expr.match(/\(([\d.]+) \* 0\.005\)/)[1])]);
		assert.deepEqual(pairs, [["1h", "5m", 14.4], ["6h", "30m", 6], ["1d", "2h", 3], ["3d", "6h", 1]]);
		for (const a of Object.values(alerts)) assert.ok(a.labels.severity && a.annotations.summary, a.alert);
	});

	test("Knative sends spans and metrics to the collector that is deployed", () => {
		const svc = find(mon(), "v1", "Service", "otel-collector");
		const http = svc.spec.ports.find((p) => p.port === 4318);
		const grpc = svc.spec.ports.find((p) => p.port === 4317);
		assert.ok(http && grpc, "OTLP http 4318 and grpc 4317");
		const host = `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local:4318`;
		for (const ns of ["serving", "eventing"]) {
			const [cm] = readObjects(`k8s/knative/config-observability-${ns}.yaml`);
			assert.equal(cm.metadata.namespace, `knative-${ns}`);
			assert.equal(cm.data["tracing-endpoint"], `http://${host}/v1/traces`);
			assert.equal(cm.data["metrics-endpoint"], `http://${host}/v1/metrics`);
			assert.equal(cm.data["tracing-protocol"], "http/protobuf");
		}
		const [dep] = readObjects("k8s/knative/config-deployment.yaml");
		assert.ok(dep.data["registries-skipping-tag-resolving"].split(",").includes("dev.local"));
		const collector = find(mon(), "v1", "ConfigMap", "otel-collector").data["config.yaml"];
		assert.match(collector, /otlp\/jaeger:\n\s+endpoint: jaeger\.observability\.svc\.cluster\.local:4317/);
		assert.ok(find(mon(), "v1", "Service", "jaeger").spec.ports.some((p) => p.port === 4317));
	});

	test("versions are pinned once, at the top of solution.sh", () => {
		for (const v of ["KNATIVE_SERVING_VERSION", "KNATIVE_KOURIER_VERSION", "KNATIVE_EVENTING_VERSION"])
			assert.match(shellVar(v), /^knative-v\d+\.\d+\.\d+$/, v);
		assert.match(shellVar("KUBE_PROMETHEUS_STACK_VERSION"), /^\d+\.\d+\.\d+$/);
		assert.match(shellVar("KUBERNETES_VERSION"), /^v\d+\.\d+\.\d+$/);
		const text = fs.readFileSync(path.join(ROOT, "solution.sh"), "utf8");
		const hardcoded = text.match(/knative[^\s"]*\/releases\/(latest|download\/knative-v[\d.]+)\//);
		assert.equal(hardcoded, null, "Knative release URLs use the version variables");
	});
});
