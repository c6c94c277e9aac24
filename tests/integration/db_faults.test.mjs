// db-service while PostgreSQL goes away and comes back (lib/pg.mjs stop/start on the same
// port): quick 503s with Retry-After during the outage, /readyz naming the database, recovery
// without a restart of db-service, start-up before the database, and a clean exit throughout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startPostgres } from './lib/pg.mjs';
import { startServer, binPath, buildDir, waitFor, stopClean } from './lib/proc.mjs';

const PG_BIN = `${process.env.PG_BINDIR || '/usr/lib/postgresql/15/bin'}/postgres`;
const skip = !existsSync(PG_BIN) ? `PostgreSQL server binaries not installed (${PG_BIN})`
	: !existsSync(`${buildDir}/db-service`) ? `${buildDir}/db-service not built` : false;
if (skip) console.log(`# skipping db-service fault tests: ${skip}`);

// An answer during an outage must come at once, not after a connect or query hang.
const QUICK_MS = 2000;

let pg;
const servers = new Set();

before(async () => {
	if (skip) return;
	pg = await startPostgres({ database: 'bookstore' });
});

after(async () => {
	for (const s of servers) await s.stop().catch(() => {});
	if (pg) await pg.cleanup();
});

async function startDb(readyPath = '/readyz') {
	const s = await startServer(binPath('db-service'), {
		env: { DATABASE_URL: pg.url, LOG_LEVEL: 'info' },
		readyPath,
	});
	servers.add(s);
	return s;
}

async function stop(s) {
	servers.delete(s);
	return stopClean(s);
}

async function timed(url, init) {
	const t0 = Date.now();
	const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10000) });
	const text = await res.text();
	return { status: res.status, headers: res.headers, text, ms: Date.now() - t0 };
}

function assertUnavailable(r, what) {
	assert.equal(r.status, 503, `${what}: ${r.status} ${r.text}`);
	assert.ok(r.ms < QUICK_MS, `${what} took ${r.ms} ms`);
	assert.ok(Number(r.headers.get('retry-after')) >= 1, `${what}: Retry-After`);
	const body = JSON.parse(r.text);
	assert.equal(body.error, 'unavailable', what);
	assert.equal(typeof body.message, 'string', what);
}

const post = (url, reviewText) => timed(`${url}/reviews`, {
	method: 'POST',
	headers: { 'content-type': 'application/json' },
	body: JSON.stringify({ reviewText }),
});

test('PostgreSQL down: quick 503s and not ready; back: serves again without a restart', { skip }, async () => {
	const s = await startDb();
	assert.equal((await timed(`${s.url}/reviews`)).status, 200);

	await pg.stop();
	for (let i = 0; i < 5; i++) {
		assertUnavailable(await timed(`${s.url}/reviews`), `GET /reviews #${i} while down`);
		assertUnavailable(await timed(`${s.url}/books`), `GET /books #${i} while down`);
		assertUnavailable(await post(s.url, 'during the outage'), `POST /reviews #${i} while down`);
		const ready = await timed(`${s.url}/readyz`);
		assert.equal(ready.status, 503, `/readyz while down: ${ready.text}`);
		assert.ok(ready.ms < QUICK_MS, `/readyz took ${ready.ms} ms`);
		assert.match(ready.text, /database/i);
		assert.equal((await timed(`${s.url}/healthz`)).status, 200, 'still alive');
	}
	assert.equal(s.proc.exitCode, null, 'db-service is still running');

	await pg.start(); // same port, same data
	await waitFor(async () => (await timed(`${s.url}/reviews`)).status === 200,
		{ timeoutMs: 15000, intervalMs: 100, what: 'GET /reviews to succeed again' });
	await waitFor(async () => (await timed(`${s.url}/readyz`)).status === 200,
		{ timeoutMs: 15000, intervalMs: 100, what: '/readyz to say ready again' });
	const created = await post(s.url, 'after the outage');
	assert.equal(created.status, 201, created.text);
	const count = (await pg.query(`SELECT count(*) FROM book_reviews
		WHERE content IN ('during the outage', 'after the outage')`))[0][0];
	assert.equal(count, '1', 'nothing was stored during the outage, one row after');
	const r = await stop(s);
	assert.match(r.stderr, /cannot connect/, 'the outage was logged');
});

test('a restart between requests is invisible: stale connections are replaced', { skip }, async () => {
	const s = await startDb();
	// Fill the pool with a few connections that the restart will break.
	const warm = await Promise.all(Array.from({ length: 6 }, () => timed(`${s.url}/reviews?limit=1`)));
	assert.deepEqual(warm.map((r) => r.status), Array(6).fill(200));
	await pg.restart();
	for (let i = 0; i < 8; i++) {
		const r = await timed(`${s.url}/reviews?limit=1`);
		assert.equal(r.status, 200, `request ${i} after the restart: ${r.text}`);
	}
	const created = await post(s.url, 'after a restart');
	assert.equal(created.status, 201, created.text);
	await stop(s);
});

test('db-service starts before PostgreSQL, retries the schema, and stops cleanly either way', { skip }, async () => {
	await pg.stop();
	// Stopped while the database is still down: the retry loop must not hold up SIGTERM.
	const early = await startDb('/healthz');
	const notReady = await timed(`${early.url}/readyz`);
	assert.equal(notReady.status, 503);
	assert.match(notReady.text, /database/i);
	assertUnavailable(await timed(`${early.url}/reviews`), 'GET /reviews before the schema');
	await waitFor(() => /schema: attempt 2 failed/.test(early.stderr()),
		{ timeoutMs: 10000, what: 'a second logged migration attempt' });
	const t0 = Date.now();
	await stop(early);
	assert.ok(Date.now() - t0 < 5000, 'SIGTERM during the retry loop is handled promptly');

	const s = await startDb('/healthz');
	assert.equal((await timed(`${s.url}/readyz`)).status, 503);
	await pg.start();
	await waitFor(async () => (await timed(`${s.url}/readyz`)).status === 200,
		{ timeoutMs: 20000, intervalMs: 100, what: '/readyz after PostgreSQL started' });
	const list = await timed(`${s.url}/reviews`);
	assert.equal(list.status, 200);
	assert.ok(JSON.parse(list.text).length >= 4);
	assert.equal((await pg.query('SELECT count(*) FROM schema_migrations'))[0][0], '2');
	const r = await stop(s);
	assert.match(r.stderr, /schema: attempt 1 failed/, 'each failed attempt is logged');
});
