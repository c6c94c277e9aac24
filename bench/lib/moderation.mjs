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

const STEPS_TARGET = 10000;



async function benchSteps(g) {
	for (const [name, kind] of [['bad-word-filter', 'badword'], ['sentiment-analysis', 'sentiment']]) {
		let s;
		try {
			s = await startService(name, STEP_ENV[name]);
			const r = await wrk({ url: `${s.url}/`, script: 'step.lua', connections: 32, seconds: SECONDS, args: [kind] });
			g.row(`${name}: steps/s (POST /, one review each)`, `${fmtInt(r.okPerSec)} steps/s`, {
				target: `≥ ${fmtInt(STEPS_TARGET)} steps/s`, ratio: r.okPerSec / STEPS_TARGET,
				detail: `p50 ${fmtMs(r.p50Ms)}, p99 ${fmtMs(r.p99Ms)}; ${fmtInt(r.requests)} requests${r.non2xx ? `, ${fmtInt(r.non2xx)} non-2xx` : ''}`,
			});
		} catch (err) {
			g.skip(`${name}: steps/s`, `failed: ${err.message.split('\n')[0]}`);
		} finally {
			await stopAll(s);
		}
	}
	g.note(`Steps: wrk -c 32 for ${SECONDS} s with bench/lua/step.lua: one binary-mode CloudEvent per request, a 108-character review (with a negation, "but" and "!", so every VADER rule runs), answered 200 with the reply event.`);
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
	const res = {};
	for (const [key, label, manifests, steps] of [
		['without', 'without the Sequence (db-insert-trigger on every new review)', noSeqDir, false],
		['with', 'with the Sequence (k8s/base/eventing)', MANIFESTS, true],
	]) {
		try {
			const e = await e2eInto(ctx, manifests, steps);
			res[key] = e;
			g.row(`end to end into PostgreSQL, ${label}`, `${fmtInt(e.perSec)} reviews/s`, {
				ratio: key === 'with' && res.without ? e.perSec / res.without.perSec : NaN,
				target: key === 'with' && res.without ? `vs ${fmtInt(res.without.perSec)} without` : '',
				detail: `${fmtInt(e.n)} stored of ${fmtInt(e.accepted)} accepted by /add (${fmtInt(e.r.okPerSec)} req/s, p99 ${fmtMs(e.r.p99Ms)}` +
					`${e.r.non2xx ? `, ${fmtInt(e.r.non2xx)} non-2xx` : ''}); ${e.dead} dead letters`,
			});
		} catch (err) {
			g.skip(`end to end into PostgreSQL, ${label}`, `failed: ${err.message.split('\n')[0]}`);
		}
	}
	g.note(`End to end: the make run wiring on free ports (PostgreSQL, db-service, file-sink FAILURE_RATE=0, dead-letter-logger, local-broker BROKER_DURABILITY=wal, node-server; with the Sequence also bad-word-filter and sentiment-analysis), wrk -c 32 for ${SECONDS} s with bench/lua/e2e.lua on POST /add. Reviews/s = rows stored ÷ (the time the count last grew − wrk's start), the count polled every 100 ms. With the Sequence each review costs the broker 5 ingests (the review, the channel hop, the step reply, the moderated-comment, node-server's reply) and 6 deliveries instead of 2 and 3.`);
}

export async function benchModeration(ctx) {
	const g = ctx.report.group('Moderation (bad-word-filter, sentiment-analysis, the Sequence)');
	await benchSteps(g);
	await benchE2e(ctx, g);
}
