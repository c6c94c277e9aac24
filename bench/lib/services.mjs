// services.mjs: starts the project's release binaries through tests/integration/lib/proc.mjs
// (free port, waits for the ready path) with LOG_LEVEL=warn, and tracks them for cleanup.
import fs from 'node:fs';
import path from 'node:path';
import { startServer, binPath, freePort } from '../../tests/integration/lib/proc.mjs';
import { repoRoot, sleep, tempDir, track } from './util.mjs';

export const FRONTEND_DIR = path.join(repoRoot, 'frontend-static');
export const MANIFESTS = path.join(repoRoot, 'k8s/base/eventing');

// The bookstore's topology before the moderation Sequence (main before issue 13): both Triggers
// on every new review, node-server's /insert storing it directly. Every delivery is one broker
// hop, which is what the broker's own figures (ingress, added latency) are about; the moderation
// group compares the end to end with and without the Sequence on it.
export const ONE_HOP_EVENTING = `
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: bookstore-broker, namespace: bookstore}
spec:
  delivery:
    retry: 2
    backoffPolicy: exponential
    backoffDelay: PT1S
    deadLetterSink: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: dead-letter-logger}}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: file-sink-trigger, namespace: bookstore}
spec:
  broker: bookstore-broker
  filter: {attributes: {type: new-review-comment}}
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: file-sink}}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: db-insert-trigger, namespace: bookstore}
spec:
  broker: bookstore-broker
  filter: {attributes: {type: new-review-comment}}
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: node-server}, uri: /insert}
  delivery:
    retry: 6
    backoffPolicy: exponential
    backoffDelay: PT1S
    deadLetterSink: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: dead-letter-logger}}
`;

/** A temp directory holding ONE_HOP_EVENTING, for BROKER_MANIFESTS. */
export function oneHopManifests() {
	const dir = tempDir('one-hop-manifests');
	fs.writeFileSync(path.join(dir, 'eventing.yaml'), ONE_HOP_EVENTING);
	return dir;
}

export async function startService(name, env = {}, opts = {}) {
	const srv = await startServer(binPath(name), {
		env: { LOG_LEVEL: 'warn', ...env },
		readyPath: opts.readyPath || '/readyz',
		port: opts.port,
		timeoutMs: 30000,
	});
	track(srv.proc);
	srv.name = name;
	srv.pid = srv.proc.pid;
	return srv;
}

/** Stops servers (SIGTERM, then SIGKILL after 10 s), ignoring exit codes. */
export async function stopAll(...servers) {
	for (const s of servers.filter(Boolean).reverse()) {
		try {
			await s.stop({ timeoutMs: 10000 });
		} catch {
			// killed after the deadline: nothing else to do
		}
	}
}

/**
 * BROKER_SERVICES mapping every Knative Service name the manifests use to base URLs. The two
 * moderation steps default to fileSink (a sink answering 202 without a reply ends the Sequence
 * there), for the groups that measure the broker alone.
 */
export function brokerServices({ nodeServer, fileSink, deadLetter, badWordFilter = fileSink, sentiment = fileSink }) {
	return [`node-server=${nodeServer}`, `file-sink=${fileSink}`,
		`dead-letter-logger=${deadLetter}`, `bad-word-filter=${badWordFilter}`,
		`sentiment-analysis=${sentiment}`].join(',');
}

export const INGRESS_PATH = '/bookstore/bookstore-broker';

/** The two moderation steps' data files, as make run passes them. */
export const STEP_ENV = {
	'bad-word-filter': { BADWORDS_FILE: path.join(repoRoot, 'services/bad-word-filter/data/badwords.txt') },
	'sentiment-analysis': {
		SENTIMENT_LEXICON_FILE: path.join(repoRoot, 'services/sentiment-analysis/data/vader_lexicon.txt'),
		SENTIMENT_EMOJI_FILE: path.join(repoRoot, 'services/sentiment-analysis/data/emoji_names.tsv'),
	},
};

/**
 * The make run wiring (scripts/run.sh) on free ports and a temp dir: db-service on ctx.pg,
 * file-sink (FAILURE_RATE=0), dead-letter-logger, the two steps (unless steps is false; with
 * journey, JOURNEY_URL = node-server's POST /journey, as make run sets it), local-broker on manifests (brokerEnv added), node-server with K_SINK = the
 * broker; then 1 s for start-up work to settle. Returns { db, fs, dll, bwf, sa, broker, node,
 * dir, stop() }; on a failed start what was started is stopped.
 */
export async function startTopology(ctx, { tag = 'e2e', manifests = MANIFESTS, steps = true, journey = false, brokerEnv = {} } = {}) {
	const dir = tempDir(tag);
	for (const d of ['file-sink', 'dead-letter-logger', 'local-broker']) fs.mkdirSync(path.join(dir, d));
	const nodePort = await freePort();
	const t = { dir };
	t.stop = () => stopAll(t.db, t.fs, t.dll, t.bwf, t.sa, t.broker, t.node);
	try {
		t.db = await startService('db-service', { DATABASE_URL: ctx.pg.url });
		t.fs = await startService('file-sink', { DATA_DIR: path.join(dir, 'file-sink'), FAILURE_RATE: '0' });
		t.dll = await startService('dead-letter-logger', { DATA_DIR: path.join(dir, 'dead-letter-logger') });
		const stepEnv = journey ? { JOURNEY_URL: `http://127.0.0.1:${nodePort}/journey` } : {};
		if (steps) {
			t.bwf = await startService('bad-word-filter', { ...STEP_ENV['bad-word-filter'], ...stepEnv });
			t.sa = await startService('sentiment-analysis', { ...STEP_ENV['sentiment-analysis'], ...stepEnv });
		}
		t.broker = await startService('local-broker', {
			DATA_DIR: path.join(dir, 'local-broker'), BROKER_MANIFESTS: manifests,
			BROKER_SERVICES: brokerServices({
				nodeServer: `http://127.0.0.1:${nodePort}`, fileSink: t.fs.url, deadLetter: t.dll.url,
				badWordFilter: t.bwf?.url, sentiment: t.sa?.url,
			}),
			...brokerEnv,
		}, { readyPath: '/healthz' });
		t.node = await startService('node-server', {
			K_SINK: `${t.broker.url}${INGRESS_PATH}`, DB_SERVICE_URL: t.db.url, FRONTEND_DIR,
		}, { port: nodePort });
	} catch (e) {
		await t.stop();
		throw e;
	}
	await sleep(1000);
	return t;
}
