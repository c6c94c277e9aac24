// services.mjs: starts the project's release binaries through tests/integration/lib/proc.mjs
// (free port, waits for the ready path) with LOG_LEVEL=warn, and tracks them for cleanup.
import fs from 'node:fs';
import path from 'node:path';
import { startServer, binPath } from '../../tests/integration/lib/proc.mjs';
import { repoRoot, tempDir, track } from './util.mjs';

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
