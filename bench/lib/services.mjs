// services.mjs: starts the project's release binaries through tests/integration/lib/proc.mjs
// (free port, waits for the ready path) with LOG_LEVEL=warn, and tracks them for cleanup.
import path from 'node:path';
import { startServer, binPath } from '../../tests/integration/lib/proc.mjs';
import { repoRoot, track } from './util.mjs';

export const FRONTEND_DIR = path.join(repoRoot, 'frontend-static');
export const MANIFESTS = path.join(repoRoot, 'k8s/base/eventing');

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
