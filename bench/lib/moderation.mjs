// moderation.mjs: the moderation Sequence. Steps per second of each step service alone (wrk on
// POST /), and reviews per second from POST /add into PostgreSQL with the Sequence in the path
// (k8s/base/eventing: sequence-trigger → bad-word-filter → sentiment-analysis → db-insert-trigger)
// against the same wiring without it (the topology before the Sequence: db-insert-trigger on
// every new-review-comment), in the same run on the same machine.
import fs from 'node:fs';
import path from 'node:path';
import { startService, stopAll, MANIFESTS, STEP_ENV, oneHopManifests, startTopology } from './services.mjs';
import { wrk } from './wrk.mjs';
import { SECONDS, sleep, fmtInt, fmtMs } from './util.mjs';
import { ROUNDS, alternate, fmtRate, median, fmtSpread } from './rounds.mjs';

const STEPS_TARGET = 10000;

async function benchSteps(g) {
	const target = `≥ ${fmtInt(STEPS_TARGET)} steps/s`;
	const steps = [['bad-word-filter', 'badword'], ['sentiment-analysis', 'sentiment']];
	const res = await alternate(steps.map(([name, kind]) => ({
		key: name,
		run: async () => {
			const s = await startService(name, STEP_ENV[name]);
			try {
				return await wrk({ url: `${s.url}/`, script: 'step.lua', connections: 32, seconds: SECONDS, args: [kind] });
			} finally {
				await stopAll(s);
			}
		},
	})));
	for (const [name] of steps) {
		const r = res.get(name);
		if (r.error) {
			g.skip(`${name}: steps/s`, `failed: ${r.error}`, target);
			continue;
		}
		g.row(`${name}: steps/s (POST /, one review each)`, fmtRate(r, 'steps/s'), {
			target, ratio: r.ok.med / STEPS_TARGET,
			detail: `p50 ${fmtMs(r.p50.med)}, p99 ${fmtMs(r.p99.med)}; ${fmtInt(r.requests)} requests, ${fmtInt(r.non2xx)} non-2xx`,
		});
	}
	g.note(`Steps: each step service started afresh for each of ${ROUNDS} alternated rounds (BENCH_ROUNDS), wrk -c 32 for ${SECONDS} s with bench/lua/step.lua: one binary-mode CloudEvent per request, a 108-character review (with a negation, "but" and "!", so every VADER rule runs), answered 200 with the reply event; median (min–max).`);
}

const stored = async (pg) => Number((await pg.query("SELECT count(*) FROM book_reviews WHERE content = 'An end-to-end benchmark review.'"))[0][0]);

/** POST /add at saturation for SECONDS, then reviews/s into the database. */
async function e2eInto(ctx, manifests, withSteps) {
	const s = await startTopology(ctx, { tag: withSteps ? 'mod-e2e-seq' : 'mod-e2e-noseq', manifests, steps: withSteps });
	try {
		const before = await stored(ctx.pg);
		const t0 = Date.now();
		const r = await wrk({ url: `${s.node.url}/add`, script: 'e2e.lua', connections: 32, seconds: SECONDS });
		const accepted = r.requests - r.non2xx;
		// Poll the count until it has them all, or has not moved for 5 s.
		let n = 0;
		let tLast = t0;
		for (;;) {
			const now = Date.now();
			const c = (await stored(ctx.pg)) - before;
			if (c !== n) {
				n = c;
				tLast = now;
			}
			if (n >= accepted || now - tLast > 5000) break;
			await sleep(100);
		}
		const dead = fs.existsSync(path.join(s.dir, 'dead-letter-logger/events.log'))
			? fs.readFileSync(path.join(s.dir, 'dead-letter-logger/events.log'), 'utf8').split('\n').filter(Boolean).length : 0;
		return { perSec: n / ((tLast - t0) / 1000), n, accepted, r, dead };
	} finally {
		await s.stop();
	}
}

async function benchE2e(ctx, g) {
	const noSeqDir = oneHopManifests();
	const cases = [
		['without', 'without the Sequence (db-insert-trigger on every new review)', noSeqDir, false],
		['with', 'with the Sequence (k8s/base/eventing)', MANIFESTS, true],
	];
	const runs = { without: [], with: [] };
	const failed = {};
	for (let round = 0; round < ROUNDS; round++) {
		for (const [key, , manifests, steps] of round % 2 ? [...cases].reverse() : cases) {
			try {
				runs[key].push(await e2eInto(ctx, manifests, steps));
			} catch (err) {
				failed[key] = err.message.split('\n')[0];
			}
		}
	}
	const rates = (key) => runs[key].map((e) => e.perSec);
	const sum = (key, f) => runs[key].reduce((a, e) => a + f(e), 0);
	for (const [key, label] of cases) {
		if (!runs[key].length) {
			g.skip(`end to end into PostgreSQL, ${label}`, `failed: ${failed[key]}`);
			continue;
		}
		const rate = median(rates(key));
		const base = key === 'with' && runs.without.length ? median(rates('without')) : NaN;
		g.row(`end to end into PostgreSQL, ${label}`, fmtSpread(rates(key), fmtInt, 'reviews/s'), {
			ratio: rate / base,
			target: Number.isFinite(base) ? `vs ${fmtInt(base)} without` : '',
			detail: `${fmtInt(sum(key, (e) => e.n))} stored of ${fmtInt(sum(key, (e) => e.accepted))} accepted by /add (${fmtInt(median(runs[key].map((e) => e.r.okPerSec)))} req/s, p99 ${fmtMs(median(runs[key].map((e) => e.r.p99Ms)))}, ` +
				`${fmtInt(sum(key, (e) => e.r.non2xx))} non-2xx); ${sum(key, (e) => e.dead)} dead letters`,
		});
	}
	g.note(`End to end: the make run wiring on free ports (PostgreSQL, db-service, file-sink FAILURE_RATE=0, dead-letter-logger, local-broker BROKER_DURABILITY=wal, node-server; with the Sequence also bad-word-filter and sentiment-analysis), a fresh topology per run, ${ROUNDS} rounds with the two wirings alternated, medians (min–max), the counts summed over the rounds; wrk -c 32 for ${SECONDS} s with bench/lua/e2e.lua on POST /add. Reviews/s = rows stored ÷ (the time the count last grew − wrk's start), the count polled every 100 ms. With the Sequence each review costs the broker 5 ingests (the review, the channel hop, the step reply, the moderated-comment, node-server's reply) and 6 deliveries instead of 2 and 3.`);
}

export async function benchModeration(ctx) {
	const g = ctx.report.group('Moderation (bad-word-filter, sentiment-analysis, the Sequence)');
	await benchSteps(g);
	await benchE2e(ctx, g);
}
