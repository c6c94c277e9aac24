// coldstart.mjs: per service, the median of ROUNDS alternated rounds of RUNS cold starts, from
// fork+exec to the first 200 on /healthz, measured by bench/c/coldstart.c (it polls every 50 µs
// with connect + GET), beside the bare libmicrohttpd server (bench/c/bare.c): the target is at
// most twice its cold start.
// One more row for node-server: fork+exec to the first 200 on POST /add (K_SINK = sink202), the
// first request that needs libcurl, which the services load after exec (common/src/curl_api.c).
// And for each service, fork+exec to the first 200 on /readyz, the readinessProbe path of
// k8s/base/services/*.yaml: what Knative waits for before it routes a request to a new pod.
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../../tests/integration/lib/proc.mjs';
import { FRONTEND_DIR, MANIFESTS, brokerServices } from './services.mjs';
import { buildDir, repoRoot, toolDir, tempDir, run, fmtMs } from './util.mjs';
import { ROUNDS, median, fmtSpread } from './rounds.mjs';

const RUNS = 20;
const TARGET_BARE = 2; // × the bare server's median

/** Median, min and max (ms) of RUNS cold starts of argv on port, or { error }. */
async function coldStart(port, argv, env, urlPath = '/healthz') {
	const r = await run(path.join(toolDir, 'coldstart'), [String(RUNS), String(port), urlPath, ...argv], {
		env: { ...process.env, PORT: String(port), LOG_LEVEL: 'warn', ...env },
	});
	const m = /median_us (\d+) min_us (\d+) max_us (\d+)/.exec(r.stdout);
	if (r.code !== 0 || !m) return { error: `coldstart failed (${r.code}): ${r.stderr.trim()}` };
	const [med, min, max] = m.slice(1).map((v) => Number(v) / 1000);
	return { med, min, max };
}

/** Runs every case ROUNDS times, alternated (each round reverses the order of the one before). */
async function rounds(cases) {
	const out = new Map(cases.map((c) => [c.key, { meds: [], min: Infinity, max: -Infinity }]));
	for (let r = 0; r < ROUNDS; r++) {
		for (const c of r % 2 ? [...cases].reverse() : cases) {
			const o = out.get(c.key);
			if (o.error) continue;
			const port = await freePort();
			const res = await coldStart(port, c.argv(port), c.env, c.path);
			if (res.error) {
				o.error = res.error;
				continue;
			}
			o.meds.push(res.med);
			o.min = Math.min(o.min, res.min);
			o.max = Math.max(o.max, res.max);
		}
	}
	for (const o of out.values()) o.med = median(o.meds);
	return out;
}

const measured = (c) => fmtSpread(c.meds, fmtMs);
const spread = (c) => `min ${fmtMs(c.min)}, max ${fmtMs(c.max)} of ${RUNS * c.meds.length} starts`;

export async function benchColdStart(ctx) {
	const g = ctx.report.group(`Cold start: fork+exec → first 200 on /healthz (median of ${ROUNDS} alternated rounds of ${RUNS})`);
	const st = ctx.bookstore;
	const dir = tempDir('coldstart');
	const sinkUrl = st ? st.sink.url : 'http://127.0.0.1:9';
	const envs = {
		'node-server': { DB_SERVICE_URL: st ? st.db.url : 'http://127.0.0.1:9', K_SINK: sinkUrl, FRONTEND_DIR },
		'db-service': { DATABASE_URL: ctx.pg.url },
		'file-sink': { DATA_DIR: dir, FAILURE_RATE: '0' },
		'dead-letter-logger': { DATA_DIR: dir },
		'local-broker': {
			DATA_DIR: path.join(dir, 'broker'), BROKER_MANIFESTS: MANIFESTS,
			BROKER_SERVICES: brokerServices({ nodeServer: sinkUrl, fileSink: sinkUrl, deadLetter: sinkUrl }),
		},
		'bad-word-filter': { BADWORDS_FILE: path.join(repoRoot, 'services/bad-word-filter/data/badwords.txt') },
		'sentiment-analysis': {
			SENTIMENT_LEXICON_FILE: path.join(repoRoot, 'services/sentiment-analysis/data/vader_lexicon.txt'),
			SENTIMENT_EMOJI_FILE: path.join(repoRoot, 'services/sentiment-analysis/data/emoji_names.tsv'),
		},
	};
	const bareBin = path.join(toolDir, 'bare');
	// bare.c takes its port as an argument, the services theirs from PORT.
	const cases = [{ key: 'bare', argv: (port) => [bareBin, String(port)], env: {}, path: '/healthz' }];
	const built = [];
	for (const [name, env] of Object.entries(envs)) {
		const bin = path.join(buildDir, name);
		if (!fs.existsSync(bin)) {
			g.skip(name, `${bin} is not built`);
			continue;
		}
		built.push(name);
		cases.push({ key: name, argv: () => [bin], env, path: '/healthz' });
		cases.push({ key: `${name} /readyz`, argv: () => [bin], env, path: '/readyz' });
	}
	const res = await rounds(cases);
	const bare = res.get('bare');
	if (bare.error) {
		g.skip('ceiling: bare libmicrohttpd server (bench/c/bare.c)', bare.error);
	} else {
		g.row('ceiling: bare libmicrohttpd server (bench/c/bare.c)', measured(bare), { detail: spread(bare) });
	}
	const limit = bare.error ? NaN : TARGET_BARE * bare.med;
	const target = bare.error ? '' : `≤ ${TARGET_BARE}× bare (${fmtMs(limit)})`;
	const vsBare = (c) => (bare.error ? '' : `; ${(c.med / bare.med).toFixed(2)}× bare`);
	for (const name of built) {
		const c = res.get(name);
		if (c.error) g.skip(name, c.error, target);
		else g.row(name, measured(c), { target, ratio: c.med / limit, detail: `${spread(c)}${vsBare(c)}` });
	}
	await addRow(g, envs['node-server'], st, vsBare);
	for (const name of built) {
		const c = res.get(`${name} /readyz`);
		const label = `${name}: exec → first 200 on /readyz (its readinessProbe)`;
		if (c.error) g.skip(label, c.error);
		else g.row(label, measured(c), { detail: `${spread(c)}${vsBare(c)}` });
	}
	g.note(`bench/c/coldstart.c: the clock starts just before fork(); the child execs the release binary (or bare, the ceiling) with stdout/stderr to /dev/null; the parent then loops connect(2) + "GET /healthz" with a 50 µs pause between attempts (that is the granularity), stops at the first 200, SIGKILLs and reaps the child. A round is ${RUNS} cold starts of one binary; every binary and path runs ${ROUNDS} rounds (BENCH_ROUNDS), alternated (each round reverses the order of the one before), so a slow phase of the machine, or the first exec that brings a binary's libraries into the page cache, does not fall on one of them only; measured = the median of the rounds' medians (their range), then the fastest and slowest single start.`);
	g.note('libcurl and libpq are not linked: a service that owns an HTTP client (and db-service, for libpq) dlopens them on a background thread started once its HTTP server\'s threads exist (common/dlapi.h), so /healthz does not wait for them, and the first request that needs one (the POST /add row; db-service\'s first query) waits for the load if it is not done.');
	g.note('Environments as in the other groups (node-server with a live db-service; db-service with the live PostgreSQL; the broker with the eventing manifests; the steps with their data files). The target: at most twice the cold start of the bare server in the same run. /healthz is liveness: it does not wait for readiness. The /readyz rows are what Knative waits for before it routes to a new pod (the readinessProbe of k8s/base/services/*.yaml): db-service is ready once connected with its schema applied, node-server once it has loaded the reviews from db-service (through libcurl); no target (the issue\'s is on the first 200).');
}

/**
 * node-server, fork+exec → the first 200 on POST /add with K_SINK = sink202: what a
 * scale-from-zero request pays, libcurl's load and first connection included.
 */
async function addRow(g, env, st, vsBare) {
	const label = 'node-server: exec → first 200 on POST /add (K_SINK = sink202)';
	const bin = path.join(buildDir, 'node-server');
	if (!st) return g.skip(label, 'needs the bookstore stack (sink202)');
	if (!fs.existsSync(bin)) return g.skip(label, `${bin} is not built`);
	const c = await coldStart(await freePort(), [bin], {
		...env,
		COLDSTART_METHOD: 'POST',
		COLDSTART_HEADERS: 'Content-Type: application/json\nCe-Type: new-review-comment\nCe-Specversion: 1.0\nCe-Source: commentForm\nCe-Id: coldstart\n',
		COLDSTART_BODY: JSON.stringify({ reviewText: 'cold start' }),
		COLDSTART_STATUS: '200',
	}, '/add');
	if (c.error) return g.skip(label, c.error);
	g.row(label, fmtMs(c.med), { detail: `min ${fmtMs(c.min)}, max ${fmtMs(c.max)} of ${RUNS} starts${vsBare(c)}` });
}
