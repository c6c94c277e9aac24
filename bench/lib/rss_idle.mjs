// rss_idle.mjs: idle VmRSS of the services that no other group of this run measured (so that
// `bench/run.sh rss` alone gives the idle figures): the end-to-end wiring (services.mjs
// startTopology(), as make run wires it), started once, read 1 s after every service answered
// its ready path, as the bookstore and delivery groups read theirs. The two moderation steps
// are only measured here, with JOURNEY_URL set as make run starts them.
import { startTopology } from './services.mjs';
import { vmRssKiB } from './rss.mjs';

/** Fills ctx.rss[name].idle for every name in names that has none; returns the names it measured. */
export async function measureIdleRss(ctx, names) {
	const missing = names.filter((n) => !Number.isFinite(ctx.rss[n]?.idle));
	if (!missing.length) return [];
	let t;
	try {
		t = await startTopology(ctx, { tag: 'rss-idle', journey: true });
		const pids = {
			'db-service': t.db.pid, 'file-sink': t.fs.pid, 'dead-letter-logger': t.dll.pid,
			'local-broker': t.broker.pid, 'node-server': t.node.pid,
			'bad-word-filter': t.bwf.pid, 'sentiment-analysis': t.sa.pid,
		};
		for (const name of missing) (ctx.rss[name] ||= {}).idle = vmRssKiB(pids[name]);
	} finally {
		if (t) await t.stop();
	}
	return missing;
}
