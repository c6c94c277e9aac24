// Every PromQL expression the deployment ships is checked by Debian's promtool: the
// PrometheusRule groups (extracted from the rendered k8s/monitoring), the dashboards' queries
// (wrapped in generated recording rules once Grafana's variables are replaced), and the alerts'
// behaviour on synthetic series (`promtool test rules`). No Prometheus server needed.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { which, kustomize, toObjects } from "../k8s/manifests.mjs";

const skip = !which("kubectl")
	? "kubectl (with kustomize) is not installed: cannot render k8s/monitoring"
	: !which("promtool")
		? "promtool is not installed (Debian package prometheus): cannot check PromQL"
		: false;

let tmp;
let objects;
before(() => {
	if (skip) return;
	tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bookstore-promql-"));
	objects = toObjects(kustomize("k8s/monitoring"));
});
after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

// JSON is YAML, so promtool reads these files as they are.
function writeJson(name, value) {
	const file = path.join(tmp, name);
	fs.writeFileSync(file, JSON.stringify(value, null, 2));
	return file;
}

function promtool(...args) {
	const r = spawnSync("promtool", args, { encoding: "utf8", cwd: tmp });
	return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const ruleGroups = () => objects.filter((o) => o.kind === "PrometheusRule").flatMap((o) => o.spec.groups);

/*
 * Grafana-only syntax made concrete: interval variables become durations, template variables
 * a match-everything regex (they only ever appear inside =~"...").
 */
const GRAFANA_DURATIONS = { __rate_interval: "5m", __interval: "1m", __range: "1h" };
export function concrete(expr) {
	return expr.replace(/\$\{?(\w+)(?::\w+)?\}?/g, (_, name) => GRAFANA_DURATIONS[name] ?? ".*");
}

function dashboards() {
	return objects
		.filter((o) => o.kind === "ConfigMap" && o.metadata.labels?.grafana_dashboard === "1")
		.flatMap((cm) => Object.values(cm.data).map((text) => JSON.parse(text)));
}

// Every query of a dashboard: panel targets, and the selector inside label_values(...) variables.
function dashboardQueries(d) {
	const out = [];
	for (const p of d.panels)
		for (const t of p.targets) out.push({ where: `${d.uid}/${p.id}${t.refId}`, expr: t.expr });
	for (const v of d.templating.list.filter((x) => x.type === "query")) {
		const q = typeof v.query === "string" ? v.query : v.query.query;
		const m = q.match(/^label_values\((.+),\s*(\w+)\)$/);
		assert.ok(m, `variable ${v.name}: label_values(selector, label) expected, got ${q}`);
		out.push({ where: `${d.uid}/var-${v.name}`, expr: m[1] });
	}
	return out;
}

function alertLabels(alertname, labels) {
	const all = { alertname, alertstate: "firing", ...labels };
	return `ALERTS{${Object.entries(all)
		.map(([k, v]) => `${k}="${v}"`)
		.join(",")}}`;
}

/* ---- synthetic series for the alerts (promtool's expanding notation, one sample a minute) --- */

// node-server requests: `good` 2xx and `bad` 5xx per minute, for `minutes`; then `after` (when
// given) as [good, bad, minutes] for a change of rate. Each request is counted twice, as in the
// cluster: by node-server (route, status_code) and by Knative's queue-proxy in front of it,
// whose series of the same name and job have no route (otelhttp's semconv attributes).
function nodeServer(good, bad, minutes, after) {
	const values = (perMin, then) =>
		then ? `0+${perMin}x${minutes} ${perMin * minutes + then}+${then}x${after[2]}` : `0+${perMin}x${minutes}`;
	const series = (status, perMin, then) => [
		{
			series: `http_server_request_duration_seconds_count{job="node-server",route="/add",method="POST",status_code="${status}"}`,
			values: values(perMin, then),
		},
		{
			series: `http_server_request_duration_seconds_count{job="node-server",http_request_method="POST",http_response_status_code="${status}",network_protocol_name="http",network_protocol_version="1.1",url_scheme="http"}`,
			values: values(perMin, then),
		},
	];
	return [...series("200", good, after?.[0]), ...series("500", bad, after?.[1])];
}
const slo = (long_window, short_window) => ({ long_window, short_window });
const fileSink = (outcomes, minutes = 40) =>
	Object.entries(outcomes).map(([outcome, v]) => ({
		series: `filesink_deliveries_total{job="file-sink",outcome="${outcome}"}`,
		values: typeof v === "string" ? v : `0+${v}x${minutes}`,
	}));
const PG = 'kube_statefulset_status_replicas_ready{namespace="bookstore",statefulset="postgresql"}';
const UP = 'up{namespace="observability",service="otel-collector",pod="otel-collector-0"}';

/*
 * Per alert: the series on which it fires (at `at`, with these labels besides the rule's own;
 * `pendingAt`: a time its condition holds but its `for:` has not passed) and the series on
 * which it stays quiet (neither pending nor firing at any of `at`), each as close to its
 * threshold as the alert allows.
 */
const ALERT_CASES = {
	NodeServerErrorBudgetBurnFast: {
		fires: [{ what: "10% errors", series: nodeServer(90, 10, 90), at: "60m", labels: slo("1h", "5m") }],
		quiet: [
			{ what: "5% errors, under 14.4x", series: nodeServer(95, 5, 90), at: ["30m", "60m", "90m"] },
			{ what: "10% for 50 min, then none: the 5m window recovered", series: nodeServer(90, 10, 50, [100, 0, 40]), at: ["60m", "80m"] },
			{ what: "a 10-minute burst of 10% after 55 good minutes: the 1h window holds", series: nodeServer(100, 0, 55, [90, 10, 10]), at: ["62m", "65m"] },
		],
	},
	NodeServerErrorBudgetBurnMedium: {
		fires: [{ what: "5% errors", series: nodeServer(95, 5, 90), at: "60m", pendingAt: "10m", labels: slo("6h", "30m") }],
		quiet: [{ what: "2% errors, under 6x", series: nodeServer(98, 2, 90), at: ["30m", "60m", "90m"] }],
	},
	NodeServerErrorBudgetBurnSlow: {
		fires: [{ what: "2% errors", series: nodeServer(98, 2, 150), at: "120m", pendingAt: "45m", labels: slo("1d", "2h") }],
		quiet: [{ what: "1.2% errors, under 3x", series: nodeServer(988, 12, 150), at: ["90m", "150m"] }],
	},
	NodeServerErrorBudgetBurnLow: {
		fires: [{ what: "1% errors", series: nodeServer(99, 1, 250), at: "240m", pendingAt: "150m", labels: slo("3d", "6h") }],
		quiet: [{ what: "0.4% errors, under 1x", series: nodeServer(996, 4, 250), at: ["200m", "240m"] }],
	},
	BookstoreDeadLetters: {
		fires: [
			{
				what: "one dead letter a minute",
				series: [
					{
						series: 'dead_letters_total{job="dead-letter-logger",destination="http://file-sink.bookstore.svc.cluster.local",code="500"}',
						values: "0x5 1+1x20",
					},
				],
				at: "10m",
				labels: { destination: "http://file-sink.bookstore.svc.cluster.local", code: "500" },
			},
			{
				// dead-letter-logger creates a (destination, code) series with its first dead letter,
				// so Prometheus's first sample of it is already 1, and increase() over it is 0
				what: "the first dead letter of a pair (its series appears at 1)",
				series: [
					{
						series: 'dead_letters_total{job="dead-letter-logger",destination="http://node-server.bookstore.svc.cluster.local/insert",code="400"}',
						values: "_x5 1x20",
					},
				],
				at: "7m",
				labels: { destination: "http://node-server.bookstore.svc.cluster.local/insert", code: "400" },
			},
		],
		quiet: [
			{
				what: "old dead letters, none new",
				series: [{ series: 'dead_letters_total{job="dead-letter-logger",destination="x",code="500"}', values: "3x30" }],
				at: ["10m", "30m"],
			},
			{
				what: "one dead letter 10 minutes ago, none since",
				series: [{ series: 'dead_letters_total{job="dead-letter-logger",destination="x",code="500"}', values: "_x5 1x30" }],
				at: ["15m", "30m"],
			},
		],
	},
	FileSinkErrorRatioHigh: {
		fires: [{ what: "90% failures", series: fileSink({ saved: 1, "error simulated": 9 }), at: "30m", pendingAt: "8m", labels: {} }],
		quiet: [
			{ what: "70% failures, under 75%", series: fileSink({ saved: 3, "error simulated": 7 }), at: ["15m", "35m"] },
			// a redelivery of a saved event is answered 200: 90% duplicates are no failures
			{ what: "90% duplicates", series: fileSink({ saved: 1, duplicate: 9 }), at: ["15m", "35m"] },
		],
	},
	FileSinkRejecting: {
		fires: [
			{
				what: "one rejected event",
				series: fileSink({ saved: 5, rejected: "0x5 1x30" }, 35),
				at: "12m",
				pendingAt: "8m",
				labels: {},
			},
		],
		quiet: [
			{ what: "rejections long ago, only saves now", series: fileSink({ saved: 5, rejected: "2x30" }, 30), at: ["12m", "30m"] },
		],
	},
	PostgreSQLDown: {
		fires: [
			{
				what: "no ready replica",
				series: [{ series: PG, values: "1x5 0x20" }],
				at: "10m",
				pendingAt: "6m",
				labels: { namespace: "bookstore", statefulset: "postgresql" },
			},
			{
				what: "the StatefulSet gone",
				series: [{ series: 'kube_statefulset_status_replicas_ready{namespace="other",statefulset="postgresql"}', values: "1x20" }],
				at: "10m",
				labels: { namespace: "bookstore", statefulset: "postgresql" },
			},
		],
		quiet: [{ what: "one ready replica", series: [{ series: PG, values: "1x30" }], at: ["10m", "30m"] }],
	},
	OtelCollectorDown: {
		fires: [
			{ what: "scrape target down", series: [{ series: UP, values: "1x5 0x20" }], at: "15m", pendingAt: "8m", labels: {} },
			{
				what: "no target at all",
				series: [{ series: 'up{namespace="observability",service="jaeger"}', values: "1x20" }],
				at: "10m",
				labels: { namespace: "observability", service: "otel-collector" },
			},
		],
		quiet: [{ what: "scrape target up", series: [{ series: UP, values: "1x30" }], at: ["10m", "30m"] }],
	},
};

describe("PromQL in rules and dashboards (promtool)", { skip }, () => {
	test("promtool check rules: the PrometheusRule groups", () => {
		const groups = ruleGroups();
		assert.ok(groups.length >= 4);
		const file = writeJson("rules.yml", { groups });
		const r = promtool("check", "rules", file);
		assert.equal(r.status, 0, r.out);
		const n = groups.reduce((sum, g) => sum + g.rules.length, 0);
		assert.match(r.out, new RegExp(`SUCCESS: ${n} rules found`));
	});

	test("promtool check rules: every dashboard query, as a recording rule", () => {
		// the Grafana variables are made concrete first, and a broken query must fail the check
		assert.equal(
			concrete('rate(x{job=~"$job", route=~"${route}"}[$__rate_interval]) + y[${__range}]'),
			'rate(x{job=~".*", route=~".*"}[5m]) + y[1h]',
		);
		const bad = { groups: [{ name: "bad", rules: [{ record: "x:y", expr: concrete("sum(rate(x[$__rate_interval])") }] }] };
		const rb = promtool("check", "rules", writeJson("bad.yml", bad));
		assert.notEqual(rb.status, 0, "promtool check rules accepts a broken query");
		assert.match(rb.out, /parse error|unclosed|FAILED/i);

		const rules = [];
		for (const d of dashboards())
			for (const q of dashboardQueries(d)) {
				const expr = concrete(q.expr);
				assert.doesNotMatch(expr, /\$/, `${q.where}: unreplaced variable`);
				rules.push({ record: `dashboard:${q.where.replace(/[^A-Za-z0-9]+/g, "_")}`, expr });
			}
		assert.ok(rules.length >= 20, `only ${rules.length} dashboard queries`);
		const r = promtool("check", "rules", writeJson("dashboards.yml", { groups: [{ name: "dashboards", rules }] }));
		assert.equal(r.status, 0, r.out);
		assert.match(r.out, new RegExp(`SUCCESS: ${rules.length} rules found`));
	});

	const alertNames = () =>
		ruleGroups()
			.flatMap((g) => g.rules)
			.filter((r) => r.alert)
			.map((r) => r.alert);

	test("every alert has a fires case and a stays-quiet case below", () => {
		assert.deepEqual(alertNames().sort(), Object.keys(ALERT_CASES).sort());
		for (const [name, c] of Object.entries(ALERT_CASES)) {
			assert.ok(c.fires.length >= 1, `${name}: no fires case`);
			assert.ok(c.quiet.length >= 1, `${name}: no stays-quiet case`);
		}
	});

	test("promtool test rules: 'Dead letters in range' counts a (destination, code) series that appears at 1", () => {
		const panel = dashboards()
			.flatMap((d) => d.panels)
			.find((p) => p.title === "Dead letters in range");
		assert.ok(panel, "the stat panel exists");
		const expr = concrete(panel.targets[0].expr); // $__range is 1h
		const dl = (destination, values) => ({
			series: `dead_letters_total{job="dead-letter-logger",destination="${destination}",code="500"}`,
			values,
		});
		const tests = {
			rule_files: [],
			evaluation_interval: "1m",
			tests: [
				{
					interval: "1m",
					input_series: [
						dl("a", "_x70 1 2 3x28"), // appears at 70m with 1, then 3: all 3 are in the hour
						dl("b", "2x100"), // 2 long before the hour, none since
					],
					promql_expr_test: [{ expr, eval_time: "90m", exp_samples: [{ labels: "{}", value: 3 }] }],
				},
				{
					interval: "1m",
					input_series: [dl("b", "2x100")],
					promql_expr_test: [{ expr, eval_time: "90m", exp_samples: [{ labels: "{}", value: 0 }] }],
				},
			],
		};
		const r = promtool("test", "rules", writeJson("dashboard-dead-letters.test.yml", tests));
		assert.equal(r.status, 0, r.out);
		assert.match(r.out, /SUCCESS/);
	});

	for (const [name, c] of Object.entries(ALERT_CASES)) {
		test(`promtool test rules: ${name} fires (${c.fires.map((x) => x.what).join("; ")}) and stays quiet (${c.quiet.map((x) => x.what).join("; ")})`, () => {
			const rulesFile = writeJson(`rules-${name}.yml`, { groups: ruleGroups() });
			const alert = ruleGroups().flatMap((g) => g.rules).find((r) => r.alert === name);
			const cases = [
				...c.fires.map((f) => ({
					interval: "1m",
					input_series: f.series,
					promql_expr_test: [
						{
							expr: `ALERTS{alertname="${name}",alertstate="firing"}`,
							eval_time: f.at,
							exp_samples: [{ labels: alertLabels(name, { ...alert.labels, ...f.labels }), value: 1 }],
						},
						// before its `for:` has passed it is only pending
						...(f.pendingAt
							? [{ expr: `ALERTS{alertname="${name}",alertstate="firing"}`, eval_time: f.pendingAt, exp_samples: [] }]
							: []),
					],
				})),
				...c.quiet.map((q) => ({
					interval: "1m",
					input_series: q.series,
					promql_expr_test: q.at.map((at) => ({ expr: `ALERTS{alertname="${name}"}`, eval_time: at, exp_samples: [] })),
				})),
			];
			const tests = { rule_files: [rulesFile], evaluation_interval: "1m", tests: cases };
			const r = promtool("test", "rules", writeJson(`rules-${name}.test.yml`, tests));
			assert.equal(r.status, 0, r.out);
			assert.match(r.out, /SUCCESS/);
		});
	}
});
