// rss_idle.mjs: idle VmRSS of the services that no other group of this run measured (so that
// `bench/run.sh rss` alone gives the idle figures): the end-to-end wiring of delivery.mjs
// (db-service on the run's PostgreSQL, file-sink, dead-letter-logger, local-broker with the
// eventing manifests, node-server with K_SINK = the broker), started once, read 1 s after every
// service answered its ready path, as the bookstore and delivery groups read theirs. The two
// moderation steps are only measured here (with JOURNEY_URL set, as make run starts them).
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../../tests/integration/lib/proc.mjs';
import { startService, stopAll, FRONTEND_DIR, MANIFESTS, brokerServices } from './services.mjs';
import { vmRssKiB } from './rss.mjs';
import { repoRoot, sleep, tempDir } from './util.mjs';

const INGRESS_PATH = '/bookstore/bookstore-broker'; // as delivery.mjs

/** Fills ctx.rss[name].idle for every name in names that has none; returns the names it measured. */
export async function measureIdleRss(ctx, names) {
	const missing = names.filter((n) => !Number.isFinite(ctx.rss[n]?.idle));
	if (!missing.length) return [];
	const dir = tempDir('rss-idle');
	for (const d of ['file-sink', 'dead-letter-logger', 'local-broker']) fs.mkdirSync(path.join(dir, d));
	const s = {};
	try {
		const nodePort = await freePort();
		s['db-service'] = await startService('db-service', { DATABASE_URL: ctx.pg.url });
		s['file-sink'] = await startService('file-sink', { DATA_DIR: path.join(dir, 'file-sink'), FAILURE_RATE: '0' });
		s['dead-letter-logger'] = await startService('dead-letter-logger', { DATA_DIR: path.join(dir, 'dead-letter-logger') });
		s['local-broker'] = await startService('local-broker', {
			DATA_DIR: path.join(dir, 'local-broker'), BROKER_MANIFESTS: MANIFESTS,
			BROKER_SERVICES: brokerServices({
				nodeServer: `http://127.0.0.1:${nodePort}`, fileSink: s['file-sink'].url, deadLetter: s['dead-letter-logger'].url,
			}),
		}, { readyPath: '/healthz' });
		s['node-server'] = await startService('node-server', {
			K_SINK: `${s['local-broker'].url}${INGRESS_PATH}`, DB_SERVICE_URL: s['db-service'].url, FRONTEND_DIR,
		}, { port: nodePort });
		// The Sequence's steps as make run starts them: with their data files and JOURNEY_URL.
		const journey = { JOURNEY_URL: `http://127.0.0.1:${nodePort}/journey` };
		s['bad-word-filter'] = await startService('bad-word-filter', {
			BADWORDS_FILE: path.join(repoRoot, 'services/bad-word-filter/data/badwords.txt'), ...journey,
		});
		s['sentiment-analysis'] = await startService('sentiment-analysis', {
			SENTIMENT_LEXICON_FILE: path.join(repoRoot, 'services/sentiment-analysis/data/vader_lexicon.txt'),
			SENTIMENT_EMOJI_FILE: path.join(repoRoot, 'services/sentiment-analysis/data/emoji_names.tsv'), ...journey,
		});
		await sleep(1000);
		for (const name of missing) (ctx.rss[name] ||= {}).idle = vmRssKiB(s[name].pid);
	} finally {
		await stopAll(...Object.values(s));
	}
	return missing;
}
