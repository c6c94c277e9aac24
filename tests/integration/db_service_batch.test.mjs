// db-service's insert batching (INSERT_BATCH_MAX, store.h) against a real PostgreSQL 15
// (lib/pg.mjs) and the real binary: many parallel inserts with distinct, duplicated and already
// stored event ids are each stored once with today's answers; inserts that queue while the table
// is locked go in one statement; a batch with one bad row falls back to one-by-one; the queue's
// count and byte bounds answer 503 with a JSON error; INSERT_BATCH_MAX=1 never batches; the
// settings are validated.
//
// The table lock: a psql session holds LOCK TABLE book_reviews IN EXCLUSIVE MODE (reads pass,
// inserts wait), so the first insert waits in PostgreSQL while the next ones queue in
// db-service; the test polls pg_locks and db-service's /metrics, never sleeps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { startPostgres } from './lib/pg.mjs';
import { startServer, binPath, buildDir, stopClean, waitFor, freePort } from './lib/proc.mjs';

const PG_BIN = `${process.env.PG_BINDIR || '/usr/lib/postgresql/15/bin'}/postgres`;
const skip = !existsSync(PG_BIN) ? `PostgreSQL server binaries not installed (${PG_BIN})`
	: !existsSync(`${buildDir}/db-service`) ? `${buildDir}/db-service not built` : false;
if (skip) console.log(`# skipping db-service batching tests: ${skip}`);

let pg;

before(async () => {
	if (skip) return;
	pg = await startPostgres({ database: 'bookstore' });
});

after(async () => {
	if (pg) await pg.cleanup();
});

function startDb(env = {}) {
	return startServer(binPath('db-service'), {
		// every waiting insert holds an HTTP thread: enough for the queues below and /metrics
		env: { DATABASE_URL: pg.url, LOG_LEVEL: 'warn', HTTP_THREADS: '64', ...env },
		readyPath: '/readyz',
	});
}

// Runs fn(db) against a fresh db-service with env, then stops it (exit 0, clean stderr).
async function withDb(env, fn) {
	const db = await startDb(env);
	try {
		await fn(db);
	} finally {
		await stopClean(db);
	}
}

// One request on a connection of its own: libmicrohttpd serves a connection on one pool thread,
// so a keep-alive connection could wait behind an insert that blocks that thread.
async function request(db, method, path, json) {
	const headers = { connection: 'close' };
	if (json !== undefined)
		headers['content-type'] = 'application/json';
	const res = await fetch(`${db.url}${path}`, {
		method,
		headers,
		body: json === undefined ? undefined : JSON.stringify(json),
		signal: AbortSignal.timeout(60000),
	});
	const text = await res.text();
	let body;
	try {
		body = JSON.parse(text);
	} catch {
		body = undefined;
	}
	return { status: res.status, headers: Object.fromEntries(res.headers), text, body };
}

const post = (db, json) => request(db, 'POST', '/reviews', json);

// The same over fetch's keep-alive connections (many requests at once: the connection limits).
async function postKeepAlive(db, json) {
	const res = await fetch(`${db.url}/reviews`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify(json),
	});
	const text = await res.text();
	return { status: res.status, text, body: JSON.parse(text) };
}

async function metric(db, name) {
	const { text } = await request(db, 'GET', '/metrics');
	const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
	assert.ok(m, `${name} missing from /metrics`);
	return Number(m[1]);
}

const scalar = async (sql) => (await pg.query(sql))[0][0];

// Inserts waiting for the table lock (in PostgreSQL, not in db-service's queue).
const lockWaiters = () => scalar(`SELECT count(*) FROM pg_locks
	WHERE relation = 'book_reviews'::regclass AND NOT granted`).then(Number);

// Holds an EXCLUSIVE lock on book_reviews until the returned release() is called.
async function lockTable() {
	const tag = `batchtest_lock_${process.pid}_${Date.now()}`;
	const holder = pg.query(`BEGIN; LOCK TABLE book_reviews IN EXCLUSIVE MODE;
		SELECT '${tag}', pg_sleep(300)`).catch(() => {}); // ends when release() cancels it
	await waitFor(async () => Number(await scalar(`SELECT count(*) FROM pg_locks
		WHERE relation = 'book_reviews'::regclass AND mode = 'ExclusiveLock' AND granted`)) === 1,
	{ what: 'the table lock' });
	return async () => {
		await pg.query(`SELECT pg_cancel_backend(pid) FROM pg_stat_activity
			WHERE query LIKE '%${tag}%' AND pid <> pg_backend_pid()`);
		await holder;
	};
}

// With the table locked: one insert waits in PostgreSQL, then `bodies` are posted and left
// to queue behind it in db-service. Returns the answers, the leader's first.
async function queuedBehindLock(db, bodies) {
	const release = await lockTable();
	const started = [];
	try {
		started.push(post(db, { reviewText: `leader ${Date.now()}` }));
		await waitFor(async () => (await lockWaiters()) === 1, { what: 'the first insert to wait' });
		// one at a time, so that each connection is accepted by a pool thread that is free
		for (const [i, b] of bodies.entries()) {
			started.push(post(db, b));
			await waitFor(async () => (await metric(db, 'db_insert_queue_length')) === i + 1,
				{ what: `${i + 1} queued inserts` });
		}
	} catch (e) {
		await release();
		await Promise.allSettled(started);
		throw e;
	}
	await release();
	return Promise.all(started);
}

test('many parallel inserts: distinct, duplicated, stored and absent ids are each stored once', { skip }, async () => {
	await withDb({}, async (db) => {
		const stored = [];
		for (let i = 0; i < 10; i++)
			stored.push((await post(db, { reviewText: `stored ${i}`, eventId: `par-stored-${i}` })).body);
		const before = Number(await scalar('SELECT count(*) FROM book_reviews'));
		const reqs = [];
		for (let i = 0; i < 100; i++)
			reqs.push({ reviewText: `distinct ${i}`, sentiment: 'positive', eventId: `par-d-${i}` });
		for (let i = 0; i < 30; i++) // each id three times
			for (let k = 0; k < 3; k++)
				reqs.push({ reviewText: `dup ${i} copy ${k}`, eventId: `par-dup-${i}` });
		for (let i = 0; i < 10; i++) // retries of stored ids
			reqs.push({ reviewText: `retry ${i}`, eventId: `par-stored-${i}` });
		for (let i = 0; i < 50; i++)
			reqs.push({ reviewText: `no id ${i}`, sentiment: i % 2 ? 'negative' : null });
		const answers = await Promise.all(reqs.map((b) => postKeepAlive(db, b)));

		const byId = new Map();
		answers.forEach((a, i) => {
			assert.ok(a.status === 200 || a.status === 201, `${a.status} ${a.text}`);
			const e = reqs[i].eventId;
			if (!e) {
				assert.equal(a.status, 201);
				assert.equal(a.body.content, reqs[i].reviewText);
				assert.equal(a.body.sentiment, reqs[i].sentiment);
				assert.equal(a.body.event_id, null);
				return;
			}
			if (!byId.has(e)) byId.set(e, []);
			byId.get(e).push({ a, req: reqs[i] });
		});
		for (const [e, list] of byId) {
			const rowIds = new Set(list.map(({ a }) => a.body.id));
			assert.equal(rowIds.size, 1, `${e}: one row for every answer`);
			const made = list.filter(({ a }) => a.status === 201);
			if (e.startsWith('par-stored-')) {
				assert.equal(made.length, 0, `${e} was stored before`);
				const old = stored[Number(e.slice('par-stored-'.length))];
				assert.deepEqual(list[0].a.body, old);
			} else {
				assert.equal(made.length, 1, `${e}: exactly one 201`);
				assert.equal(made[0].a.body.content, made[0].req.reviewText);
				for (const { a } of list)
					assert.deepEqual(a.body, made[0].a.body);
			}
			assert.equal(await scalar(`SELECT count(*) FROM book_reviews WHERE event_id = '${e}'`), '1');
		}
		const noIdRows = new Set(answers.filter((a) => a.body.event_id === null).map((a) => a.body.id));
		assert.equal(noIdRows.size, 50, 'each insert without an id has its own row');
		assert.equal(Number(await scalar('SELECT count(*) FROM book_reviews')), before + 100 + 30 + 50);
	});
});

test('inserts that queue while one is in PostgreSQL go in one statement', { skip }, async () => {
	await withDb({}, async (db) => {
		const batches = await metric(db, 'db_insert_batches_total');
		const bodies = Array.from({ length: 20 }, (_, i) => ({ reviewText: `queued ${i}`, eventId: `q-${i}` }));
		bodies.push({ reviewText: 'queued twice', eventId: 'q-0' }); // a duplicate in the batch
		bodies.push({ reviewText: 'queued, no id' });
		// the same id from other sources: other events (CloudEvents: source and id together)
		bodies.push({ reviewText: 'q-0 from /b', eventId: 'q-0', eventSource: '/b' });
		bodies.push({ reviewText: 'q-0 from /c', eventId: 'q-0', eventSource: '/c' });
		bodies.push({ reviewText: 'q-0 from /b again', eventId: 'q-0', eventSource: '/b' });
		const [first, ...rest] = await queuedBehindLock(db, bodies);
		assert.equal(first.status, 201, first.text);
		rest.forEach((a, i) => {
			const want = /twice|again/.test(bodies[i].reviewText) ? 200 : 201;
			assert.equal(a.status, want, `${bodies[i].reviewText}: ${a.text}`);
		});
		assert.deepEqual(rest[20].body, rest[0].body, 'the duplicate gets the first one\'s row');
		assert.deepEqual(rest[24].body, rest[22].body, 'the duplicate from /b gets /b\'s row');
		assert.deepEqual([rest[0], rest[22], rest[23]].map((a) => a.body.event_source),
			[null, '/b', '/c']);
		assert.equal(new Set([rest[0], rest[22], rest[23]].map((a) => a.body.id)).size, 3);
		assert.equal(await metric(db, 'db_insert_batches_total'), batches + 1);
		assert.equal(await metric(db, 'db_insert_batch_fallbacks_total'), 0);
		const times = new Set(rest.map((a) => a.body.post_time));
		assert.equal(times.size, 1, 'one statement: one statement_timestamp()');
		const ids = rest.filter((a) => a.status === 201).map((a) => a.body.id);
		assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'rows keep the queue order');
	});
});

test('a batch whose statement fails runs one by one: only the bad row fails', { skip }, async () => {
	await pg.query(`ALTER TABLE book_reviews ADD CONSTRAINT batchtest_reject
		CHECK (content <> 'reject me') NOT VALID`);
	try {
		await withDb({}, async (db) => {
			const alone = await post(db, { reviewText: 'reject me', eventId: 'rej-alone' });
			assert.equal(alone.status, 400, alone.text);
			const bodies = [
				{ reviewText: 'fine 1', eventId: 'fb-1' },
				{ reviewText: 'reject me', eventId: 'fb-bad' },
				{ reviewText: 'fine 2' },
				{ reviewText: 'fine 1 again', eventId: 'fb-1' },
				{ reviewText: 'fine 3', sentiment: 'neutral', eventId: 'fb-3' },
			];
			const [first, ...rest] = await queuedBehindLock(db, bodies);
			assert.equal(first.status, 201);
			assert.equal(rest[1].status, alone.status);
			assert.deepEqual(rest[1].body, alone.body, 'the same answer as alone');
			assert.deepEqual(rest.map((a) => a.status), [201, 400, 201, 200, 201]);
			assert.deepEqual(rest[3].body, rest[0].body);
			assert.equal(rest[4].body.sentiment, 'neutral');
			assert.equal(await scalar(`SELECT count(*) FROM book_reviews WHERE content = 'reject me'`), '0');
			assert.equal(await scalar(`SELECT count(*) FROM book_reviews WHERE event_id = 'fb-1'`), '1');
			assert.equal(await metric(db, 'db_insert_batch_fallbacks_total'), 1);
		});
	} finally {
		await pg.query('ALTER TABLE book_reviews DROP CONSTRAINT batchtest_reject');
	}
});

test('a full queue answers 503 with a JSON error at once (count bound)', { skip }, async () => {
	await withDb({ INSERT_QUEUE_MAX: '2' }, async (db) => {
		const bodies = Array.from({ length: 5 }, (_, i) => ({ reviewText: `bounded ${i}` }));
		const release = await lockTable();
		try {
			const first = post(db, { reviewText: 'bounded leader' });
			await waitFor(async () => (await lockWaiters()) === 1, { what: 'the first insert to wait' });
			const queued = [];
			for (const i of [0, 1]) {
				queued.push(post(db, bodies[i]));
				await waitFor(async () => (await metric(db, 'db_insert_queue_length')) === i + 1,
					{ what: `${i + 1} queued inserts` });
			}
			const over = await Promise.all(bodies.slice(2).map((b) => post(db, b)));
			for (const a of over) {
				assert.equal(a.status, 503, a.text);
				assert.equal(a.headers['content-type'], 'application/json');
				assert.match(a.body.message, /too many reviews are waiting/);
				assert.ok(a.headers['retry-after'], 'Retry-After');
			}
			await release();
			for (const a of await Promise.all([first, ...queued]))
				assert.equal(a.status, 201, a.text);
		} finally {
			await release();
		}
		assert.equal(await scalar(`SELECT count(*) FROM book_reviews WHERE content LIKE 'bounded %'`), '3');
	});
});

test('a full queue answers 503 (byte bound; a lone insert always queues)', { skip }, async () => {
	await withDb({ INSERT_QUEUE_BYTES: '2000' }, async (db) => {
		const big = 'x'.repeat(3000);
		const release = await lockTable();
		try {
			const first = post(db, { reviewText: 'bytes leader' });
			await waitFor(async () => (await lockWaiters()) === 1, { what: 'the first insert to wait' });
			const lone = post(db, { reviewText: `${big} lone` });
			await waitFor(async () => (await metric(db, 'db_insert_queue_length')) === 1,
				{ what: 'one queued insert' });
			const over = await post(db, { reviewText: 'small, but the queue is over its bytes' });
			assert.equal(over.status, 503, over.text);
			assert.match(over.body.message, /too many reviews are waiting/);
			await release();
			assert.equal((await first).status, 201);
			assert.equal((await lone).status, 201);
		} finally {
			await release();
		}
	});
});

test('INSERT_BATCH_MAX=1: every insert runs alone, as before batching', { skip }, async () => {
	await withDb({ INSERT_BATCH_MAX: '1' }, async (db) => {
		const answers = await Promise.all(Array.from({ length: 40 }, (_, i) =>
			postKeepAlive(db, { reviewText: `alone ${i % 20}`, eventId: `alone-${i % 20}` })));
		assert.equal(answers.filter((a) => a.status === 201).length, 20);
		assert.equal(answers.filter((a) => a.status === 200).length, 20);
		assert.equal(await metric(db, 'db_insert_batches_total'), 0);
		assert.equal(await metric(db, 'db_insert_queue_length'), 0);
		assert.equal(await scalar(`SELECT count(*) FROM book_reviews WHERE event_id LIKE 'alone-%'`), '20');
	});
});

test('the batching settings are validated', { skip }, async () => {
	const port = String(await freePort()); // never bound: the configuration is refused first
	for (const [name, value] of [['INSERT_BATCH_MAX', '0'], ['INSERT_BATCH_MAX', '1001'],
		['INSERT_BATCH_MAX', 'many'], ['INSERT_QUEUE_MAX', '0'], ['INSERT_QUEUE_BYTES', '-1']]) {
		const r = spawnSync(binPath('db-service'), [], {
			env: { ...process.env, DATABASE_URL: pg.url, PORT: port, [name]: value },
			encoding: 'utf8',
			timeout: 10000,
		});
		assert.equal(r.status, 2, `${name}=${value}: ${r.stderr}`);
		assert.match(r.stderr, new RegExp(`${name}: '${value}' is not an integer`));
	}
	const help = spawnSync(binPath('db-service'), ['--help'], { encoding: 'utf8' });
	assert.match(help.stdout, /^INSERT_BATCH_MAX +64 /m);
});
