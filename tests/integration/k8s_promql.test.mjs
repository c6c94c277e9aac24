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

	test("the check fails on a broken query (so it can fail)", () => {
		const bad = { groups: [{ name: "bad", rules: [{ record: "x:y", expr: concrete("sum(rate(x[$__rate_interval])") }] }] };
		const r = promtool("check", "rules", writeJson("bad.yml", bad));
		assert.notEqual(r.status, 0);
		assert.match(r.out, /parse error|unclosed|FAILED/i);
	});

	test("concrete() replaces Grafana variables", () => {
		assert.equal(
			concrete('rate(x{job=~"$job", route=~"${route}"}[$__rate_interval]) + y[${__range}]'),
			'rate(x{job=~".*", route=~".*"}[5m]) + y[1h]',
		);
	});

	test("promtool test rules: the alerts fire on bad series and stay quiet on good ones", () => {
		const rulesFile = writeJson("rules-under-test.yml", { groups: ruleGroups() });
		const firing = (alertname, labels = {}) => ({
			labels: `ALERTS{${Object.entries({ alertname, alertstate: "firing", ...labels })
				.map(([k, v]) => `${k}="${v}"`)
				.join(",")}}`,
			value: 1,
		});
		const nodeServer = (status, perMinute) => ({
			series: `http_server_request_duration_seconds_count{job="node-server",route="/add",method="POST",status_code="${status}"}`,
			values: `0+${perMinute}x240`,
		});
		const tests = {
			rule_files: [rulesFile],
			evaluation_interval: "1m",
			tests: [
				{
					// 10% of node-server requests fail: 20x the 0.5% budget burns fast and medium.
					interval: "1m",
					input_series: [nodeServer("200", 90), nodeServer("500", 10)],
					promql_expr_test: [
						{
							expr: 'ALERTS{alertname="NodeServerErrorBudgetBurnFast",alertstate="firing"}',
							eval_time: "60m",
							exp_samples: [
								firing("NodeServerErrorBudgetBurnFast", {
									severity: "page",
									slo: "node-server-availability",
									long_window: "1h",
									short_window: "5m",
								}),
							],
						},
						{
							expr: 'count(ALERTS{alertname=~"NodeServerErrorBudgetBurn(Fast|Medium)",alertstate="firing"})',
							eval_time: "60m",
							exp_samples: [{ labels: "{}", value: 2 }],
						},
					],
				},
				{
					// 0.1% errors: inside the budget, no burn-rate alert at all.
					interval: "1m",
					input_series: [nodeServer("200", 999), nodeServer("500", 1)],
					promql_expr_test: [
						{ expr: 'ALERTS{alertname=~"NodeServerErrorBudgetBurn.*"}', eval_time: "4h", exp_samples: [] },
					],
				},
				{
					// one event dead-lettered per minute from minute 5 on
					interval: "1m",
					input_series: [
						{
							series: 'dead_letters_total{job="dead-letter-logger",destination="http://file-sink.bookstore.svc.cluster.local",code="500"}',
							values: "0x5 1+1x20",
						},
						{
							series: 'kube_statefulset_status_replicas_ready{namespace="bookstore",statefulset="postgresql"}',
							values: "1x5 0x20",
						},
						{ series: 'filesink_deliveries_total{job="file-sink",outcome="saved"}', values: "0+1x40" },
						{ series: 'filesink_deliveries_total{job="file-sink",outcome="error simulated"}', values: "0+9x40" },
					],
					promql_expr_test: [
						{ expr: 'ALERTS{alertname="BookstoreDeadLetters"}', eval_time: "4m", exp_samples: [] },
						{
							expr: 'ALERTS{alertname="BookstoreDeadLetters",alertstate="firing"}',
							eval_time: "10m",
							exp_samples: [
								firing("BookstoreDeadLetters", {
									destination: "http://file-sink.bookstore.svc.cluster.local",
									code: "500",
									severity: "warning",
								}),
							],
						},
						{
							expr: 'ALERTS{alertname="PostgreSQLDown",alertstate="firing"}',
							eval_time: "10m",
							exp_samples: [
								firing("PostgreSQLDown", { namespace: "bookstore", statefulset: "postgresql", severity: "critical" }),
							],
						},
						{
							expr: 'ALERTS{alertname="FileSinkErrorRatioHigh",alertstate="firing"}',
							eval_time: "30m",
							exp_samples: [firing("FileSinkErrorRatioHigh", { severity: "warning" })],
						},
					],
				},
				{
					// file-sink at its designed 50% failure rate: no alert
					interval: "1m",
					input_series: [
						{ series: 'filesink_deliveries_total{job="file-sink",outcome="saved"}', values: "0+5x40" },
						{ series: 'filesink_deliveries_total{job="file-sink",outcome="error simulated"}', values: "0+5x40" },
					],
					promql_expr_test: [{ expr: 'ALERTS{alertname="FileSinkErrorRatioHigh"}', eval_time: "35m", exp_samples: [] }],
				},
			],
		};
		const r = promtool("test", "rules", writeJson("rules.test.yml", tests));
		assert.equal(r.status, 0, r.out);
		assert.match(r.out, /SUCCESS/);
	});
});
