// node-server's /readyz never blocks a pool thread (issue 11, point 5; issue 9, section 4):
// readiness is node-server's own state (the reviews are loaded), read without I/O. With
// db-service hung (SIGSTOP: it accepts connections and never answers) and only two HTTP
// threads, 40 concurrent /readyz and a GET / are all answered while db-service is still hung,
// /readyz with 200; the routes that need db-service answer 503.
// Before: each probe called db-service synchronously (1 s budget) on a pool thread, so the
// probes answered 503 and queued GET / behind them (12.6 s measured with 40 probes).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startStack, stackSkipReason } from './lib/stack.mjs';
import { waitFor } from './lib/proc.mjs';

const skip = stackSkipReason();
if (skip) console.log(`# skipping node-server readiness tests: ${skip}`);

let st;

before(async () => {
	if (skip) return;
	st = await startStack({ sink: 'none', nodeEnv: { HTTP_THREADS: '2', DB_SERVICE_TIMEOUT_MS: '1000' } });
});

after(async () => {
	if (st) await st.stop().catch(() => {});
});

test('a cold node-server is not ready until the reviews are loaded, without waiting on db-service', { skip }, async () => {
	// The stack waited for /readyz; the feed has loaded.
	assert.equal((await fetch(`${st.url}/readyz`)).status, 200);
	const comments = await fetch(`${st.url}/comments`);
	assert.equal(comments.status, 200);
	await comments.arrayBuffer();
});

test('40 concurrent /readyz against a hung db-service: all answered 200 and GET / answered, before db-service is released', { skip }, async () => {
	st.db.proc.kill('SIGSTOP');
	try {
		// A group stop completes asynchronously: wait until every thread of db-service is stopped.
		await waitFor(() => fs.readdirSync(`/proc/${st.db.proc.pid}/task`).every((t) =>
			/^\d+ \(.*\) T /.test(fs.readFileSync(`/proc/${st.db.proc.pid}/task/${t}/stat`, 'utf8'))),
		{ timeoutMs: 5000, what: 'db-service stopped (state T)' });
		// A route that needs db-service answers 503 once its call times out.
		const books = await fetch(`${st.url}/books`);
		assert.equal(books.status, 503, await books.text());

		const probes = Array.from({ length: 40 }, () => fetch(`${st.url}/readyz`)
			.then(async (r) => ({ status: r.status, text: await r.text() })));
		const page = fetch(`${st.url}/`).then(async (r) => ({ status: r.status, len: (await r.text()).length }));
		const [got, home] = await Promise.all([Promise.all(probes), page]);
		assert.equal(home.status, 200);
		assert.ok(home.len > 0);
		const bad = got.filter((r) => r.status !== 200);
		assert.equal(bad.length, 0, `not ready while only db-service hangs: ${JSON.stringify(bad[0])}`);
		assert.equal(st.db.proc.exitCode, null, 'db-service is still there, still hung');
	} finally {
		st.db.proc.kill('SIGCONT');
	}
	await waitFor(async () => (await fetch(`${st.url}/books`)).status === 200, { what: 'GET /books again' });
});

// Last: the stack stops on SIGTERM with exit status 0 and no sanitizer report in any log
// (st.stop() asserts both; the after() hook only cleans up after a failure).
test('the stack stops cleanly, without a sanitizer report', { skip }, async () => {
	const s = st;
	st = null;
	await s.stop();
});
