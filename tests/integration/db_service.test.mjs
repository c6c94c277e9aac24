// db-service against a real PostgreSQL 15 (lib/pg.mjs) and the real binary (lib/proc.mjs):
// schema and seed, books, review listing and limits, idempotent inserts under concurrency,
// deletes, SQL metacharacters, and a battery of malformed requests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rawRequest } from './lib/rawhttp.mjs';
import { existsSync } from 'node:fs';
import { startPostgres } from './lib/pg.mjs';
import { startServer, binPath, buildDir, stopClean } from './lib/proc.mjs';

const PG_BIN = `${process.env.PG_BINDIR || '/usr/lib/postgresql/15/bin'}/postgres`;
const skip = !existsSync(PG_BIN) ? `PostgreSQL server binaries not installed (${PG_BIN})`
	: !existsSync(`${buildDir}/db-service`) ? `${buildDir}/db-service not built` : false;
if (skip) console.log(`# skipping db-service tests: ${skip}`);

const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SEED = ['Meh', 'This book is okay.', 'This book is terrible!', 'This book is great!'];

let pg;
let srv; // the instance most tests talk to: started by the first test that needs it
let srvStarting;

// The shared db-service (the schema and seed applied), whichever test comes first.
function server() {
	if (srv) return srv;
	srvStarting ??= startDb().then((s) => (srv = s));
	return srvStarting;
}

before(async () => {
	if (skip) return;
	pg = await startPostgres({ database: 'bookstore' });
});

after(async () => {
	if (srv) await srv.stop().catch(() => {});
	if (pg) await pg.cleanup();
});

function startDb(env = {}) {
	return startServer(binPath('db-service'), {
		env: { DATABASE_URL: pg.url, LOG_LEVEL: 'warn', ...env },
		readyPath: '/readyz',
	});
}

async function call(method, path, { json, body, headers = {} } = {}) {
	const h = { ...headers };
	let b = body;
	if (json !== undefined) {
		b = JSON.stringify(json);
		h['content-type'] ??= 'application/json';
	}
	const res = await fetch((await server()).url + path, { method, headers: h, body: b });
	const text = await res.text();
	let parsed;
	try {
		parsed = text ? JSON.parse(text) : undefined;
	} catch {
		parsed = undefined;
	}
	return { status: res.status, headers: res.headers, text, body: parsed };
}

const scalar = async (sql) => {
	await server(); // the schema exists once db-service has started
	return (await pg.query(sql))[0][0];
};

test('two instances starting at once apply the schema and the seed exactly once', { skip }, async () => {
	const [a, b] = await Promise.all([startDb(), startDb()]);
	await Promise.all([stopClean(a), stopClean(b)]);
	const third = await startDb(); // and a third start on the already migrated database
	if (srv) await stopClean(third);
	else srv = third;
	assert.deepEqual(await pg.query('SELECT version FROM schema_migrations ORDER BY version'),
		[['1'], ['2'], ['3']]);
	assert.equal(await scalar('SELECT count(*) FROM book_reviews'), '4');
	assert.equal(await scalar('SELECT count(*) FROM books'), '1');
	assert.deepEqual(await pg.query(
		`SELECT content, sentiment, to_char(post_time, 'YYYY-MM-DD HH24:MI:SS')
		 FROM book_reviews ORDER BY id`), [
		['This book is great!', 'positive', '2020-01-01 00:00:00'],
		['This book is terrible!', 'negative', '2020-01-02 00:02:00'],
		['This book is okay.', 'neutral', '2020-01-03 00:01:30'],
		['Meh', 'neutral', '2020-01-04 00:00:00'],
	]);
	const check = await scalar(`SELECT pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conname = 'sentiment_check'`);
	assert.match(check, /positive.*negative.*neutral/);
	const indexes = (await pg.query(`SELECT indexdef FROM pg_indexes
		WHERE tablename = 'book_reviews'`)).map((r) => r[0]).join('\n');
	assert.match(indexes, /\(post_time\)/);
	assert.match(indexes, /UNIQUE.*\(event_source, event_id\)/);
	await assert.rejects(pg.query(`INSERT INTO book_reviews (post_time, content, sentiment)
		VALUES (now(), 'x', 'great')`), /sentiment_check/);
});

test('GET /books and /books/{id}', { skip }, async () => {
	const list = await call('GET', '/books');
	assert.equal(list.status, 200);
	assert.match(list.headers.get('content-type'), /^application\/json/);
	assert.equal(list.body.length, 1);
	const want = {
		id: list.body[0].id,
		title: 'Building serverless applications on Knative',
		author: 'Evan Anderson',
		isbn: '978-1098142070',
		publisher: 'Oreilly & Associates Inc',
		published_date: '2023-12-19',
		description: 'A Guide to Designing and Writing Serverless Cloud Application',
		price: '49.00',
		currency: 'USD',
		cover: '/images/cover.svg',
	};
	assert.deepEqual(list.body[0], want);
	assert.equal(typeof want.id, 'number');
	const one = await call('GET', `/books/${want.id}`);
	assert.equal(one.status, 200);
	assert.deepEqual(one.body, want);
	const missing = await call('GET', '/books/999');
	assert.equal(missing.status, 404);
	assert.equal(missing.body.error, 'not_found');
	for (const bad of ['abc', '0', '-1', '1.0', '99999999999']) {
		const r = await call('GET', `/books/${bad}`);
		assert.equal(r.status, 400, `/books/${bad}`);
		assert.equal(r.body.error, 'bad_request');
	}
});

test('GET /reviews: newest first, UTC millisecond times, limit rules', { skip }, async () => {
	const all = await call('GET', '/reviews');
	assert.equal(all.status, 200);
	assert.deepEqual(all.body.map((r) => r.content), SEED);
	assert.deepEqual(all.body[0], {
		id: all.body[0].id, post_time: '2020-01-04T00:00:00.000Z', content: 'Meh',
		sentiment: 'neutral', event_id: null, event_source: null,
	});
	for (const row of all.body) assert.match(row.post_time, TIME_RE);
	for (const [q, n] of [['1', 1], ['2', 2], ['4', 4], ['1000', 4], ['007', 4]]) {
		const r = await call('GET', `/reviews?limit=${q}`);
		assert.equal(r.status, 200, `limit=${q}`);
		assert.deepEqual(r.body.map((x) => x.content), SEED.slice(0, n), `limit=${q}`);
	}
	for (const q of ['0', '-1', 'abc', '1001', '', '1.5', '1e2', '%20', '10abc', '99999999999999999999']) {
		const r = await call('GET', `/reviews?limit=${q}`);
		assert.equal(r.status, 400, `limit=${q}`);
		assert.equal(r.body.error, 'bad_request', `limit=${q}`);
		assert.match(r.body.message, /limit/);
	}
});

test('POST /reviews: 201 with the row, the same eventId again gives 200 and the same row', { skip }, async () => {
	const before = Date.now();
	const first = await call('POST', '/reviews', {
		json: { reviewText: '  Loved it \n', sentiment: 'positive', eventId: 'evt-A' },
	});
	assert.equal(first.status, 201, first.text);
	assert.equal(first.body.content, 'Loved it');
	assert.equal(first.body.sentiment, 'positive');
	assert.equal(first.body.event_id, 'evt-A');
	assert.match(first.body.post_time, TIME_RE);
	const t = Date.parse(first.body.post_time);
	assert.ok(Math.abs(t - before) < 60000, `post_time ${first.body.post_time} is not now (UTC)`);
	const again = await call('POST', '/reviews', {
		json: { reviewText: 'a different text', eventId: 'evt-A' },
	});
	assert.equal(again.status, 200, again.text);
	assert.deepEqual(again.body, first.body);
	assert.equal(await scalar(`SELECT count(*) FROM book_reviews WHERE event_id = 'evt-A'`), '1');
	const newest = await call('GET', '/reviews?limit=1');
	assert.deepEqual(newest.body, [first.body]);
	// Without eventId every POST is a new row; sentiment may be null; charset parameter is fine.
	const plain = await call('POST', '/reviews', {
		json: { reviewText: 'no id', sentiment: null },
		headers: { 'content-type': 'application/json; charset=utf-8' },
	});
	assert.equal(plain.status, 201, plain.text);
	assert.equal(plain.body.sentiment, null);
	assert.equal(plain.body.event_id, null);
	assert.ok(plain.body.id > first.body.id);
});

test('POST /reviews: a row per (eventSource, eventId), as CloudEvents identify events', { skip }, async () => {
	const post = (json) => call('POST', '/reviews', { json });
	const a = await post({ reviewText: 'from a', eventId: 'evt-S', eventSource: '/a' });
	const b = await post({ reviewText: 'from b', eventId: 'evt-S', eventSource: '/b' });
	const none = await post({ reviewText: 'no source', eventId: 'evt-S' });
	assert.deepEqual([a.status, b.status, none.status], [201, 201, 201], `${a.text} ${b.text} ${none.text}`);
	assert.deepEqual([a.body.event_source, b.body.event_source, none.body.event_source], ['/a', '/b', null]);
	assert.equal(new Set([a.body.id, b.body.id, none.body.id]).size, 3);
	const again = await post({ reviewText: 'from b, redelivered', eventId: 'evt-S', eventSource: '/b' });
	assert.equal(again.status, 200, again.text);
	assert.deepEqual(again.body, b.body);
	const noneAgain = await post({ reviewText: 'no source again', eventId: 'evt-S', eventSource: null });
	assert.equal(noneAgain.status, 200, noneAgain.text);
	assert.deepEqual(noneAgain.body, none.body);
	assert.equal(await scalar(`SELECT count(*) FROM book_reviews WHERE event_id = 'evt-S'`), '3');
	const lone = await post({ reviewText: 'x', eventSource: '/a' });
	assert.equal(lone.status, 400);
	assert.match(lone.body.message, /eventSource needs an eventId/);
});

test('a database from before sources keeps its rows and their event ids as keys', { skip }, async () => {
	// The schema that versions 1 and 2 made, as an older db-service left it.
	await pg.query('CREATE DATABASE before_sources', { database: 'postgres' });
	const q = (sql) => pg.query(sql, { database: 'before_sources' });
	await q(`CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`);
	await q(`INSERT INTO schema_migrations (version, name) VALUES (1, 'v1'), (2, 'v2')`);
	await q(`CREATE TABLE book_reviews (id serial PRIMARY KEY, post_time timestamp NOT NULL,
		content text NOT NULL, sentiment text, event_id text,
		CONSTRAINT book_reviews_event_id_key UNIQUE (event_id))`);
	await q(`INSERT INTO book_reviews (post_time, content, event_id)
		VALUES ('2026-01-01', 'stored before', 'old-1'), ('2026-01-02', 'no id', NULL)`);
	const url = pg.url.replace(/\/bookstore$/, '/before_sources');
	const s = await startServer(binPath('db-service'), {
		env: { DATABASE_URL: url, LOG_LEVEL: 'warn' }, readyPath: '/readyz',
	});
	try {
		const post = async (json) => {
			const r = await fetch(`${s.url}/reviews`, { method: 'POST',
				headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) });
			return { status: r.status, body: await r.json() };
		};
		const old = await post({ reviewText: 'redelivered', eventId: 'old-1' });
		assert.equal(old.status, 200);
		assert.equal(old.body.content, 'stored before');
		assert.equal(old.body.event_source, null);
		const other = await post({ reviewText: 'same id, a source', eventId: 'old-1', eventSource: '/x' });
		assert.equal(other.status, 201);
		assert.deepEqual(await q('SELECT version FROM schema_migrations ORDER BY version'),
			[['1'], ['2'], ['3']]);
		assert.deepEqual(await q('SELECT count(*) FROM book_reviews'), [['3']]);
	} finally {
		await stopClean(s);
	}
});

test('50 concurrent POSTs with one eventId create exactly one row', { skip }, async () => {
	const results = await Promise.all(Array.from({ length: 50 }, (_, i) => call('POST', '/reviews', {
		json: { reviewText: `racer ${i}`, sentiment: 'neutral', eventId: 'evt-race' },
	})));
	const statuses = results.map((r) => r.status).sort();
	assert.equal(statuses.filter((s) => s === 201).length, 1, `statuses: ${statuses}`);
	assert.equal(statuses.filter((s) => s === 200).length, 49, `statuses: ${statuses}`);
	const ids = new Set(results.map((r) => r.body.id));
	assert.equal(ids.size, 1);
	assert.equal(await scalar(`SELECT count(*) FROM book_reviews WHERE event_id = 'evt-race'`), '1');
});

test('review text length counts code points: 4000 emoji fit, 4001 do not', { skip }, async () => {
	const ok = await call('POST', '/reviews', { json: { reviewText: '😀'.repeat(4000) } });
	assert.equal(ok.status, 201, ok.text);
	assert.equal([...ok.body.content].length, 4000);
	const stored = await scalar(`SELECT char_length(content) FROM book_reviews WHERE id = ${ok.body.id}`);
	assert.equal(stored, '4000');
	const tooLong = await call('POST', '/reviews', { json: { reviewText: 'é'.repeat(4001) } });
	assert.equal(tooLong.status, 400);
	assert.equal(tooLong.body.error, 'validation_failed');
});

test('DELETE /reviews/{id}: 204, then 404', { skip }, async () => {
	const made = await call('POST', '/reviews', { json: { reviewText: 'short-lived' } });
	assert.equal(made.status, 201);
	const del = await call('DELETE', `/reviews/${made.body.id}`);
	assert.equal(del.status, 204);
	assert.equal(del.text, '');
	const again = await call('DELETE', `/reviews/${made.body.id}`);
	assert.equal(again.status, 404);
	assert.equal(again.body.error, 'not_found');
	assert.equal(await scalar(`SELECT count(*) FROM book_reviews WHERE id = ${made.body.id}`), '0');
	const list = await call('GET', '/reviews?limit=1000');
	assert.ok(!list.body.some((r) => r.id === made.body.id));
});

test('SQL metacharacters are stored literally', { skip }, async () => {
	const text = "'); DROP TABLE book_reviews; --";
	const eventId = "x'; DELETE FROM books; --";
	const r = await call('POST', '/reviews', { json: { reviewText: text, eventId, sentiment: 'negative' } });
	assert.equal(r.status, 201, r.text);
	assert.equal(r.body.content, text);
	assert.equal(r.body.event_id, eventId);
	assert.equal(await scalar('SELECT count(*) FROM books'), '1');
	assert.equal(await scalar(`SELECT content FROM book_reviews WHERE id = ${r.body.id}`), text);
	assert.equal(await scalar(`SELECT count(*) FROM book_reviews
		WHERE content = $q$${text}$q$ AND event_id = $q$${eventId}$q$`), '1');
	const again = await call('POST', '/reviews', { json: { reviewText: 'other', eventId } });
	assert.equal(again.status, 200);
	assert.equal(again.body.id, r.body.id);
});

test('malformed requests get a 4xx JSON error, never a 5xx, and the service keeps answering', { skip }, async () => {
	const J = { 'content-type': 'application/json' };
	const cases = [
		['POST', '/reviews', { body: '{"reviewText":"x"}' }, 415],
		['POST', '/reviews', { body: '{"reviewText":"x"}', headers: { 'content-type': 'text/plain' } }, 415],
		['POST', '/reviews', { body: 'reviewText=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415],
		['POST', '/reviews', { body: 'not json', headers: J }, 400],
		['POST', '/reviews', { body: '', headers: J }, 400],
		['POST', '/reviews', { body: '{"reviewText":', headers: J }, 400],
		['POST', '/reviews', { body: '[]', headers: J }, 400],
		['POST', '/reviews', { body: '"just a string"', headers: J }, 400],
		['POST', '/reviews', { body: 'null', headers: J }, 400],
		['POST', '/reviews', { json: {} }, 400],
		['POST', '/reviews', { json: { reviewText: '' } }, 400],
		['POST', '/reviews', { json: { reviewText: ' \n\t ' } }, 400],
		['POST', '/reviews', { json: { reviewText: 'x'.repeat(4001) } }, 400],
		['POST', '/reviews', { json: { reviewText: 42 } }, 400],
		['POST', '/reviews', { json: { reviewText: null } }, 400],
		['POST', '/reviews', { json: { reviewText: 'x', sentiment: 'great' } }, 400],
		['POST', '/reviews', { json: { reviewText: 'x', sentiment: 1 } }, 400],
		['POST', '/reviews', { json: { reviewText: 'x', eventId: '' } }, 400],
		['POST', '/reviews', { json: { reviewText: 'x', eventId: 'e'.repeat(201) } }, 400],
		['POST', '/reviews', { json: { reviewText: 'x', eventId: 7 } }, 400],
		['POST', '/reviews', { json: { reviewText: 'x', rating: 5 } }, 400],
		['POST', '/reviews', { body: '{"reviewText":"a","reviewText":"b"}', headers: J }, 400],
		['POST', '/reviews', { body: Buffer.from([0x7b, 0x22, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77,
			0x54, 0x65, 0x78, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), headers: J }, 400],
		['POST', '/reviews', { body: '{"reviewText":"a\\u0000b"}', headers: J }, 400],
		['POST', '/reviews', { body: '{"reviewText":"\\ud800"}', headers: J }, 400],
		['GET', '/reviews?limit=0', {}, 400],
		['GET', '/reviews?limit=abc', {}, 400],
		['GET', '/books/abc', {}, 400],
		['DELETE', '/reviews/0', {}, 400],
		['DELETE', '/reviews/1.5', {}, 400],
		['DELETE', '/reviews/abc', {}, 400],
		['DELETE', '/reviews/99999999999', {}, 400],
		['PUT', '/reviews', { json: { reviewText: 'x' } }, 405],
		['GET', '/nope', {}, 404],
	];
	assert.ok(cases.length >= 20);
	const before = await scalar('SELECT count(*) FROM book_reviews');
	for (const [method, path, opts, want] of cases) {
		const r = await call(method, path, opts);
		const what = `${method} ${path} ${String(opts.body ?? JSON.stringify(opts.json)).slice(0, 60)}`;
		assert.ok(r.status >= 400 && r.status < 500, `${what}: status ${r.status}`);
		assert.equal(r.status, want, `${what}: ${r.text}`);
		assert.match(r.headers.get('content-type') || '', /^application\/json/, what);
		assert.equal(typeof r.body?.error, 'string', `${what}: ${r.text}`);
		assert.equal(typeof r.body?.message, 'string', `${what}: ${r.text}`);
	}
	// A body over the route's cap is refused from its Content-Length alone. A client still
	// writing such a body can see the connection close before it reads the answer, so this
	// case goes over a raw socket that sends the headers only.
	const big = await rawRequest((await server()).port, 'POST /reviews HTTP/1.1\r\nHost: t\r\n' +
		`Content-Type: application/json\r\nContent-Length: ${400 * 1024}\r\n\r\n{"reviewText":"`);
	assert.equal(big.status, 413);
	assert.equal(big.json().error, 'payload_too_large');
	assert.equal(await scalar('SELECT count(*) FROM book_reviews'), before, 'nothing was stored');
	assert.equal((await call('GET', '/reviews?limit=1')).status, 200);
	assert.equal((await call('GET', '/readyz')).status, 200);
});

test('db-service exits 0 on SIGTERM without sanitizer reports', { skip }, async () => {
	const s = await server();
	srv = null;
	srvStarting = null;
	await stopClean(s);
});
