// The live /metrics of a server on the common layer, checked by Debian's real promtool, plus
// the histogram invariants and the route-label rule (templates, never raw paths).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, binPath, assertClean } from './lib/proc.mjs';

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const skip = promtool.error ? `promtool is not installed (${promtool.error.code}); run make deps` : false;
if (skip)
	console.log(`# skipping metrics_promtool: ${skip}`);

// Parses `name{a="b",...} value` lines into { name, labels, value }.
function samples(text) {
	const out = [];
	for (const line of text.split('\n')) {
		if (!line || line.startsWith('#'))
			continue;
		const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
		assert.ok(m, `unparsable sample line: ${line}`);
		const labels = {};
		for (const lm of (m[2] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
			labels[lm[1]] = lm[2];
		out.push({ name: m[1], labels, value: Number(m[3]) });
	}
	return out;
}

test('live /metrics passes promtool check metrics and keeps the histogram invariants', { skip }, async () => {
	const srv = await startServer(binPath('tests/tools/testserver'), { env: { LOG_LEVEL: 'warn' } });
	try {
		const paths = ['/items/1', '/items/2', '/items/abc?q=1', '/nope/123', '/nope/456', '/slow?ms=5', '/healthz'];
		for (const p of paths)
			await (await fetch(srv.url + p)).arrayBuffer();
		await (await fetch(`${srv.url}/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":' })).arrayBuffer();
		await (await fetch(`${srv.url}/items/9`, { method: 'DELETE' })).arrayBuffer();

		const res = await fetch(`${srv.url}/metrics`);
		assert.equal(res.status, 200);
		const text = await res.text();

		const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
		assert.equal(check.status, 0, `promtool check metrics failed:\n${check.stdout}${check.stderr}`);

		const all = samples(text);
		const hist = all.filter((s) => s.name.startsWith('http_server_request_duration_seconds'));
		const routes = new Set(hist.map((s) => s.labels.route));
		for (const r of routes)
			assert.ok(['/items/{id}', '/slow', '/healthz', '/json', 'unmatched', '/metrics'].includes(r), `route label ${r}`);
		assert.ok(routes.has('/items/{id}'));
		assert.ok(routes.has('unmatched'));
		for (const raw of ['/items/1', '/items/abc', '/nope/123'])
			assert.ok(!text.includes(`route="${raw}"`), `raw path ${raw} used as a label`);

		// every series: cumulative buckets, ending in +Inf equal to _count
		const series = new Map();
		for (const s of hist) {
			const { le, ...rest } = s.labels;
			const key = JSON.stringify(rest);
			if (!series.has(key))
				series.set(key, { buckets: [], count: null });
			const e = series.get(key);
			if (s.name.endsWith('_bucket'))
				e.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
			else if (s.name.endsWith('_count'))
				e.count = s.value;
		}
		assert.ok(series.size >= 4, `series: ${series.size}`);
		for (const [key, e] of series) {
			assert.ok(e.buckets.length >= 2, key);
			for (let i = 1; i < e.buckets.length; i++) {
				assert.ok(e.buckets[i][0] > e.buckets[i - 1][0], `${key}: le increasing`);
				assert.ok(e.buckets[i][1] >= e.buckets[i - 1][1], `${key}: cumulative`);
			}
			const last = e.buckets[e.buckets.length - 1];
			assert.equal(last[0], Infinity, `${key}: ends in +Inf`);
			assert.equal(last[1], e.count, `${key}: +Inf equals _count`);
		}
		const items = [...series.entries()].find(([k]) => k.includes('"route":"/items/{id}"') && k.includes('"status_code":"200"'));
		assert.ok(items, 'a series for GET /items/{id} 200');
		assert.equal(items[1].count, 3);
	} finally {
		const { code, stderr } = await srv.stop();
		assert.equal(code, 0);
		assertClean(stderr);
	}
});
