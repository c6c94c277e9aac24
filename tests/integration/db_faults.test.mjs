// db-service while PostgreSQL goes away and comes back (lib/pg.mjs stop/start on the same
// port): 503s with Retry-After during the outage, /readyz naming the database, recovery
// without a restart of db-service, start-up before the database, and a clean exit throughout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { startPostgres } from './lib/pg.mjs';
import { rawRequest } from './lib/rawhttp.mjs';
import { startServer, binPath, buildDir, waitFor, stopClean } from './lib/proc.mjs';

const PG_BIN = `${process.env.PG_BINDIR || '/usr/lib/postgresql/15/bin'}/postgres`;
const skip = !existsSync(PG_BIN) ? `PostgreSQL server binaries not installed (${PG_BIN})`
	: !existsSync(`${buildDir}/db-service`) ? `${buildDir}/db-service not built` : false;
if (skip) console.log(`# skipping db-service fault tests: ${skip}`);

// An answer during an outage must come at once, not after a connect or query hang: every
// request has a client deadline (CALL_DEADLINE_MS), far past any answer that does not hang.
// How fast the answers come is not asserted here (no timed assertions in tests).
const CALL_DEADLINE_MS = 10000;

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

async function call(url, init) {
	const res = await fetch(url, { ...init, signal: AbortSignal.timeout(CALL_DEADLINE_MS) });
	const text = await res.text();
	return { status: res.status, headers: res.headers, text };
}

function assertUnavailable(r, what) {
	assert.equal(r.status, 503, `${what}: ${r.status} ${r.text}`);
	assert.ok(Number(r.headers.get('retry-after')) >= 1, `${what}: Retry-After`);
	const body = JSON.parse(r.text);
	assert.equal(body.error, 'unavailable', what);
	assert.equal(typeof body.message, 'string', what);
}

const post = (url, reviewText) => call(`${url}/reviews`, {
	method: 'POST',
	headers: { 'content-type': 'application/json' },
	body: JSON.stringify({ reviewText }),
});

test('PostgreSQL down: 503s with Retry-After and not ready; back: serves again without a restart', { skip }, async () => {
	const s = await startDb();
	assert.equal((await call(`${s.url}/reviews`)).status, 200);

	await pg.stop();
	for (let i = 0; i < 5; i++) {
		assertUnavailable(await call(`${s.url}/reviews`), `GET /reviews #${i} while down`);
		assertUnavailable(await call(`${s.url}/books`), `GET /books #${i} while down`);
		assertUnavailable(await post(s.url, 'during the outage'), `POST /reviews #${i} while down`);
		const ready = await call(`${s.url}/readyz`);
		assert.equal(ready.status, 503, `/readyz while down: ${ready.text}`);
		assert.match(ready.text, /database/i);
		assert.equal((await call(`${s.url}/healthz`)).status, 200, 'still alive');
	}
	assert.equal(s.proc.exitCode, null, 'db-service is still running');

	await pg.start(); // same port, same data
	await waitFor(async () => (await call(`${s.url}/reviews`)).status === 200,
		{ timeoutMs: 15000, intervalMs: 100, what: 'GET /reviews to succeed again' });
	await waitFor(async () => (await call(`${s.url}/readyz`)).status === 200,
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
	const warm = await Promise.all(Array.from({ length: 6 }, () => call(`${s.url}/reviews?limit=1`)));
	assert.deepEqual(warm.map((r) => r.status), Array(6).fill(200));
	await pg.restart();
	for (let i = 0; i < 8; i++) {
		const r = await call(`${s.url}/reviews?limit=1`);
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
	const notReady = await call(`${early.url}/readyz`);
	assert.equal(notReady.status, 503);
	assert.match(notReady.text, /database/i);
	assertUnavailable(await call(`${early.url}/reviews`), 'GET /reviews before the schema');
	await waitFor(() => /schema: attempt 2 failed/.test(early.stderr()),
		{ timeoutMs: 10000, what: 'a second logged migration attempt' });
	// A retry loop that did not see SIGTERM would keep db-service up: stop() then fails on
	// its own deadline (SIGKILL and a thrown error), and stopClean() wants exit status 0.
	await stop(early);

	const s = await startDb('/healthz');
	assert.equal((await call(`${s.url}/readyz`)).status, 503);
	await pg.start();
	await waitFor(async () => (await call(`${s.url}/readyz`)).status === 200,
		{ timeoutMs: 20000, intervalMs: 100, what: '/readyz after PostgreSQL started' });
	const list = await call(`${s.url}/reviews`);
	assert.equal(list.status, 200);
	assert.ok(JSON.parse(list.text).length >= 4);
	assert.equal((await pg.query('SELECT count(*) FROM schema_migrations'))[0][0], '3');
	const r = await stop(s);
	assert.match(r.stderr, /schema: attempt 1 failed/, 'each failed attempt is logged');
});

// The migrator's advisory lock, held by a session that never lets go (a replica whose dead
// connection the server has not noticed yet, a psql left open): each attempt gives up after
// the schema's lock_timeout, so the wait is logged and retried, SIGTERM is answered, and the
// migration runs as soon as the lock is free.
const SCHEMA_LOCK_KEY = '7093010716826431346'; // services/db-service/schema.h

test('a schema lock held elsewhere: attempts time out and retry, SIGTERM still stops db-service', { skip }, async (t) => {
	const holder = await pg.session();
	t.after(() => holder.close());
	await holder.run(`SELECT pg_advisory_lock(${SCHEMA_LOCK_KEY})`);

	const waiting = await startDb('/healthz');
	await waitFor(() => /schema: attempt 2 failed/.test(waiting.stderr()),
		{ timeoutMs: 30000, intervalMs: 100, what: 'two migration attempts that gave up on the lock' });
	assert.match(waiting.stderr(), /lock timeout/, 'the reason is logged');
	assert.equal((await call(`${waiting.url}/readyz`)).status, 503);
	assertUnavailable(await call(`${waiting.url}/reviews`), 'GET /reviews while the schema waits');
	await stop(waiting); // a migrator stuck on the lock would hold this past stop()'s deadline

	const s = await startDb('/healthz');
	await waitFor(() => /schema: attempt 1 failed/.test(s.stderr()),
		{ timeoutMs: 30000, intervalMs: 100, what: 'a migration attempt that gave up on the lock' });
	await holder.run(`SELECT pg_advisory_unlock(${SCHEMA_LOCK_KEY})`);
	await waitFor(async () => (await call(`${s.url}/readyz`)).status === 200,
		{ timeoutMs: 30000, intervalMs: 100, what: '/readyz once the lock is free' });
	assert.equal((await call(`${s.url}/reviews`)).status, 200);
	await stop(s);
});

// PostgreSQL rolls a transaction back with SQLSTATE class 40 (a serialization failure, a
// deadlock) for the client to run it again: db-service runs it once more, and when that fails
// too answers 409 "try again" (which node-server and Knative retry), not a 500.
test('a serialization failure is run once more; a second one is 409 "try again", not 500', { skip }, async (t) => {
	const s = await startDb(); // ready: the schema is there
	// A sequence is not rolled back: "rolled back once" fails on its first insert only.
	await pg.query(`CREATE SEQUENCE test_serial_seq;
		CREATE FUNCTION test_serial() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.content = 'always rolled back' THEN
				RAISE EXCEPTION 'test' USING ERRCODE = 'serialization_failure';
			END IF;
			IF NEW.content LIKE 'rolled back once%' AND nextval('test_serial_seq') = 1 THEN
				RAISE EXCEPTION 'test' USING ERRCODE = 'deadlock_detected';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER test_serial BEFORE INSERT ON book_reviews
		FOR EACH ROW EXECUTE FUNCTION test_serial()`);
	t.after(() => pg.query('DROP TRIGGER test_serial ON book_reviews; DROP FUNCTION test_serial(); DROP SEQUENCE test_serial_seq'));
	const withId = (reviewText, eventId) => call(`${s.url}/reviews`, {
		method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reviewText, eventId }),
	});
	const id = `serial-${Date.now()}`;
	let r = await withId('always rolled back', `${id}-a`);
	assert.equal(r.status, 409, r.text);
	assert.equal(JSON.parse(r.text).error, 'conflict', r.text);
	assert.match(JSON.parse(r.text).message, /try again/, r.text);
	assert.match(s.stderr(), /rolled back, running it once more/);
	r = await withId(`rolled back once ${id}`, `${id}-b`);
	assert.equal(r.status, 201, r.text);
	assert.equal(JSON.parse(r.text).content, `rolled back once ${id}`);
	await stop(s);
});

// A table lock held elsewhere (a migration, a VACUUM FULL, a long transaction) holds every
// handler that reads the table. The kubelet's probes (one second each) and Prometheus must still
// be answered: the handlers wait on the blocking pool, not on libmicrohttpd's threads, and
// /readyz does not wait for a connection (every one at work is busy, not down). Before, with as
// many waiting requests as HTTP_THREADS, /healthz itself waited until the lock went (here,
// until the client gave up), and /readyz waited 10 s for a connection, then said 503.
test('handlers waiting on a lock leave /healthz, /readyz and /metrics answering', { skip }, async (t) => {
	const s = await startServer(binPath('db-service'), {
		env: { DATABASE_URL: pg.url, LOG_LEVEL: 'info', HTTP_THREADS: '3', DB_POOL_SIZE: '3' },
		readyPath: '/readyz',
	});
	servers.add(s);
	const holder = await pg.session();
	t.after(() => holder.close());
	await holder.run('BEGIN; LOCK TABLE book_reviews IN ACCESS EXCLUSIVE MODE');
	let answered = 0;
	const held = Array.from({ length: 3 }, () => call(`${s.url}/reviews`)
		.then((r) => { answered++; return r; }));
	await waitFor(async () => Number((await pg.query(`SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'db-service' AND wait_event_type = 'Lock'`))[0][0]) === 3,
	{ timeoutMs: 10000, intervalMs: 50, what: 'three db-service queries waiting on the lock' });

	const health = await call(`${s.url}/healthz`);
	assert.equal(health.status, 200, health.text);
	const ready = await call(`${s.url}/readyz`);
	assert.equal(ready.status, 200, `busy is not down: ${ready.text}`);
	const metrics = await call(`${s.url}/metrics`);
	assert.equal(metrics.status, 200);
	assert.match(metrics.text, /^http_server_active_requests [1-9]/m, 'the waiting requests are counted');
	assert.equal(answered, 0, 'the three requests still wait on the lock');

	await holder.run('COMMIT');
	const results = await Promise.all(held);
	assert.deepEqual(results.map((r) => r.status), [200, 200, 200]);
	await stop(s);
});

// A TCP proxy to PostgreSQL that can freeze: while frozen it holds every byte both ways (and
// new connections get nowhere), as a database host that accepts but never answers; thawed, it
// passes what it held on, in order.
async function freezingProxy(port) {
	let frozen = false;
	const held = [];
	const sockets = new Set();
	const server = net.createServer((c) => {
		const up = net.connect(port, '127.0.0.1');
		for (const [from, to] of [[c, up], [up, c]]) {
			sockets.add(from);
			from.on('data', (d) => (frozen ? held.push(() => to.write(d)) : to.write(d)));
			from.on('error', () => to.destroy());
			from.on('close', () => to.destroy());
		}
	});
	await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
	return {
		port: server.address().port,
		held: () => held.length,
		freeze() { frozen = true; },
		thaw() { frozen = false; for (const f of held.splice(0)) f(); },
		async close() {
			for (const sock of sockets) sock.destroy();
			await new Promise((resolve) => server.close(resolve));
		},
	};
}

// The database stops answering (a host that accepts and then says nothing): /readyz must not
// take libmicrohttpd's threads with it. The store pings on a thread of its own, one ping at a
// time: the probe that asks waits for it 2 s at most, then says "not ready"; the others answer
// at once, and /healthz answers throughout. Before, every probe pinged on its own thread: one
// hung in SELECT 1 and the others took turns in 3-second connect attempts, so /healthz waited
// behind them (here, past the client's deadline); and later, with one probe at a time pinging,
// that probe held its thread until the thaw (up to tcp_user_timeout, 30 s).
// Each probe is a new connection, as the kubelet's are.
test('a database that stops answering: /readyz says not ready, and /healthz still answers', { skip }, async (t) => {
	const proxy = await freezingProxy(pg.port);
	t.after(() => proxy.close());
	const s = await startServer(binPath('db-service'), {
		env: { DATABASE_URL: `postgresql://postgres@127.0.0.1:${proxy.port}/bookstore`, LOG_LEVEL: 'warn' },
		readyPath: '/readyz',
	});
	servers.add(s);
	const probe = async (p, timeoutMs = CALL_DEADLINE_MS) => {
		const r = await rawRequest(s.port, `GET ${p} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n`, { timeoutMs });
		assert.ok(!r.timedOut, `GET ${p}: no answer within ${timeoutMs} ms`);
		return r;
	};
	assert.equal((await call(`${s.url}/reviews?limit=1`)).status, 200); // an idle connection
	proxy.freeze();
	// The probe that starts the ping is answered while the database is still frozen.
	const first = await probe('/readyz');
	assert.equal(first.status, 503, first.text);
	assert.match(first.text, /ping has had no answer/);
	assert.ok(proxy.held() > 0, 'the ping reached the frozen database and is still unanswered');
	const others = await Promise.all(Array.from({ length: 6 }, () => probe('/readyz')));
	for (const r of others) {
		assert.equal(r.status, 503, r.text);
		assert.match(r.text, /ping has had no answer/);
	}
	assert.equal((await probe('/healthz')).status, 200);
	proxy.thaw();
	await waitFor(async () => (await probe('/readyz')).status === 200,
		{ timeoutMs: 10000, intervalMs: 100, what: '/readyz ready again once the database answers' });
	await stop(s);
});
