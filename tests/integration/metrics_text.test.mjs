// The Prometheus text rendered by common/src/metrics.c (through tests/tools/metrics_dump):
// Debian's `promtool check metrics` must accept it, and the rules promtool does not check
// (shared/reference/protocols.md §5) are asserted here: TYPE before samples, each family in
// one group, each series once, histogram buckets cumulative and increasing with a +Inf
// bucket equal to _count, label values that round-trip through the escapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const buildDir = path.resolve(root, process.env.BUILD_DIR || 'build/asan');
const dumpBin = path.join(buildDir, 'tests/tools/metrics_dump');

function dump() {
	assert.ok(existsSync(dumpBin), `${dumpBin} is missing: build it first`);
	const r = spawnSync(dumpBin, [], { encoding: 'utf8', timeout: 30000 });
	assert.equal(r.status, 0, `metrics_dump failed: ${r.stderr}`);
	assert.equal(r.stderr, '', 'metrics_dump wrote to stderr (sanitizer report?)');
	return r.stdout;
}

// Parses one sample line: name{labels} value. Returns { name, labels: [[k, v]...], value }.
function parseSample(line) {
	const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
	assert.ok(m, `bad sample line: ${line}`);
	const name = m[1];
	let i = name.length;
	const labels = [];
	if (line[i] === '{') {
		i++;
		while (line[i] !== '}') {
			const k = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(i));
			assert.ok(k, `bad label at ${i}: ${line}`);
			i += k[0].length;
			let v = '';
			for (;;) {
				const c = line[i++];
				assert.ok(c !== undefined, `unterminated label value: ${line}`);
				if (c === '"') break;
				if (c === '\\') {
					const e = line[i++];
					const map = { '\\': '\\', '"': '"', n: '\n' };
					assert.ok(e in map, `invalid escape \\${e}: ${line}`);
					v += map[e];
				} else {
					v += c;
				}
			}
			labels.push([k[1], v]);
			if (line[i] === ',') i++;
		}
		i++;
	}
	assert.equal(line[i], ' ', `no blank before the value: ${line}`);
	const text = line.slice(i + 1);
	assert.match(text, /^(NaN|[+-]Inf|-?[0-9.]+(e[+-][0-9]+)?)$/, `bad value: ${line}`);
	return { name, labels, value: Number(text.replace('Inf', 'Infinity')) };
}

function parse(text) {
	const families = new Map(); // name -> { type, help, samples: [] }
	const order = [];
	let current = null;
	for (const line of text.split('\n').slice(0, -1)) {
		const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
		if (meta) {
			const [, kind, name, rest] = meta;
			let fam = families.get(name);
			if (!fam) {
				assert.ok(kind === 'HELP' || kind === 'TYPE');
				fam = { name, samples: [] };
				families.set(name, fam);
				order.push(name);
			}
			assert.equal(fam.samples.length, 0, `${kind} for ${name} after its samples`);
			assert.equal(fam[kind], undefined, `second ${kind} for ${name}`);
			fam[kind] = rest;
			current = fam;
			continue;
		}
		const s = parseSample(line);
		assert.ok(current, `sample before any TYPE: ${line}`);
		const base = current.TYPE === 'histogram' ? s.name.replace(/_(bucket|sum|count)$/, '') : s.name;
		assert.equal(base, current.name, `sample ${s.name} outside its family's group (TYPE before samples, grouped)`);
		current.samples.push(s);
	}
	return { families, order };
}

const key = (labels) => JSON.stringify(labels.filter(([k]) => k !== 'le'));

test('metrics text ends with a newline and promtool accepts it', (t) => {
	const text = dump();
	assert.ok(text.length > 0);
	assert.ok(text.endsWith('\n'), 'last line must end with \\n');
	const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
	if (probe.error) {
		t.skip(`promtool not installed (${probe.error.code}); run make deps`);
		return;
	}
	const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30000 });
	assert.equal(r.status, 0, `promtool check metrics: ${r.stdout}${r.stderr}`);
});

test('every family has HELP and TYPE first, one group, each series once', () => {
	const { families, order } = parse(dump());
	for (const want of ['bookstore_events_total', 'bookstore_queue_depth',
		'http_server_request_duration_seconds', 'bookstore_delivery_lag_seconds',
		'process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds',
		'process_start_time_seconds']) {
		assert.ok(families.has(want), `${want} missing`);
	}
	assert.equal(new Set(order).size, order.length);
	for (const fam of families.values()) {
		assert.ok(['counter', 'gauge', 'histogram'].includes(fam.TYPE), `${fam.name}: TYPE ${fam.TYPE}`);
		assert.ok(fam.HELP && fam.HELP.length > 0, `${fam.name}: no HELP`);
		assert.ok(fam.samples.length > 0, `${fam.name}: no samples`);
		const seen = new Set();
		for (const s of fam.samples) {
			const id = s.name + JSON.stringify(s.labels);
			assert.ok(!seen.has(id), `series repeated: ${id}`);
			seen.add(id);
		}
	}
	const proc = (n) => families.get(n).samples[0].value;
	assert.ok(proc('process_resident_memory_bytes') > 1 << 20);
	assert.ok(proc('process_open_fds') >= 3);
	assert.ok(Math.abs(proc('process_start_time_seconds') - Date.now() / 1000) < 600);
});

test('histogram buckets are cumulative, increasing, end with +Inf equal to _count', () => {
	const { families } = parse(dump());
	let checked = 0;
	for (const fam of families.values()) {
		if (fam.TYPE !== 'histogram') continue;
		const series = new Map();
		for (const s of fam.samples) {
			const k = key(s.labels);
			if (!series.has(k)) series.set(k, { buckets: [] });
			const e = series.get(k);
			const suffix = s.name.slice(fam.name.length);
			if (suffix === '_bucket') {
				assert.equal(e.sum, undefined, `${fam.name}: bucket after _sum`);
				const le = s.labels.find(([n]) => n === 'le');
				assert.ok(le, `${fam.name}: bucket without le`);
				e.buckets.push([le[1] === '+Inf' ? Infinity : Number(le[1]), s.value]);
			} else if (suffix === '_sum') {
				e.sum = s.value;
			} else {
				assert.equal(suffix, '_count');
				assert.notEqual(e.sum, undefined, `${fam.name}: _count before _sum`);
				e.count = s.value;
			}
		}
		for (const [k, e] of series) {
			assert.ok(e.buckets.length >= 2, `${fam.name}${k}: too few buckets`);
			for (let i = 1; i < e.buckets.length; i++) {
				assert.ok(e.buckets[i][0] > e.buckets[i - 1][0], `${fam.name}${k}: le not increasing`);
				assert.ok(e.buckets[i][1] >= e.buckets[i - 1][1], `${fam.name}${k}: not cumulative`);
			}
			const last = e.buckets[e.buckets.length - 1];
			assert.equal(last[0], Infinity, `${fam.name}${k}: no +Inf bucket`);
			assert.equal(last[1], e.count, `${fam.name}${k}: +Inf bucket != _count`);
			assert.ok(Number.isFinite(e.sum), `${fam.name}${k}: _sum missing`);
			checked++;
		}
	}
	assert.equal(checked, 3, 'two labelled series and one without labels');
	const dur = families.get('http_server_request_duration_seconds');
	const les = dur.samples.filter((s) => s.name.endsWith('_bucket') && key(s.labels).includes('"GET"'))
		.map((s) => s.labels.find(([n]) => n === 'le')[1]);
	assert.deepEqual(les, ['0.005', '0.01', '0.025', '0.05', '0.075', '0.1', '0.25', '0.5',
		'0.75', '1', '2.5', '5', '7.5', '10', '+Inf']);
});

test('label values and HELP round-trip through the escapes', () => {
	const { families } = parse(dump());
	const ev = families.get('bookstore_events_total');
	assert.equal(ev.HELP, 'Events handled, by "type" (help with \\\\ and\\nnewline).');
	const types = ev.samples.map((s) => s.labels.find(([n]) => n === 'type')[1]);
	for (const want of ['with "quotes"', 'back\\slash', 'new\nline', 'all \\" \n at once\\',
		'unicode café € 📚', 'invalid \uFFFD byte', '']) {
		assert.ok(types.includes(want), `label value ${JSON.stringify(want)} not found`);
	}
});
