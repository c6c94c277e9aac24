// node-server and db-service while PostgreSQL restarts: db-service answers 503 meanwhile and
// recovers without a restart; node-server stays up, answers /insert with 503 during the outage
// (so the broker retries), works afterwards, and every binary exits 0 on SIGTERM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, stackSkipReason } from './lib/stack.mjs';
import { waitFor } from './lib/proc.mjs';

const skip = stackSkipReason();
if (skip) console.log(`# skipping node-server fault tests: ${skip}`);

let st;

before(async () => {
	if (skip) return;
	st = await startStack({ sink: 'none' });
});

after(async () => {
	if (st) await st.stop().catch(() => {});
});

const insertHeaders = (id) => ({
	'content-type': 'application/json',
	'ce-specversion': '1.0',
	'ce-type': 'moderated-comment',
	'ce-source': 'sentiment-analysis',
	'ce-id': id,
});

async function insert(text, id = `${text}-${Date.now()}-${Math.random()}`) {
	const res = await fetch(`${st.url}/insert`, {
		method: 'POST', headers: insertHeaders(id), body: JSON.stringify({ reviewText: text }),
	});
	return { status: res.status, retryAfter: res.headers.get('retry-after'), text: await res.text() };
}

async function get(base, path) {
	const res = await fetch(base + path);
	const text = await res.text();
	return { status: res.status, retryAfter: res.headers.get('retry-after'), text };
}

test('PostgreSQL restart: 503s meanwhile, recovery without restarting anything', { skip }, async () => {
	assert.equal((await insert('before the outage')).status, 200);
	await st.pg.stop();
	try {
		// db-service itself: 503 with Retry-After, not a crash
		const books = await waitFor(async () => {
			const r = await get(st.dbUrl, '/books');
			return r.status === 503 ? r : null;
		}, { what: 'db-service 503 while PostgreSQL is down' });
		assert.equal(books.retryAfter, '1');
		// node-server: /insert is 503 so that the broker retries
		const r = await insert('during the outage', 'outage-event-1');
		assert.equal(r.status, 503, r.text);
		assert.equal(r.retryAfter, '1');
		assert.equal((await get(st.url, '/books')).status, 503);
		// still alive, still serving the last snapshot and the page
		assert.equal((await get(st.url, '/healthz')).status, 200);
		assert.equal((await get(st.url, '/comments')).status, 200);
		assert.equal((await get(st.url, '/')).status, 200);
		// readiness is node-server's own state (issue 9): still ready, serving the snapshot
		assert.equal((await get(st.url, '/readyz')).status, 200);
		assert.equal(st.node.proc.exitCode, null);
		assert.equal(st.db.proc.exitCode, null);
	} finally {
		await st.pg.start();
	}
	// the broker's redelivery of the same event now succeeds, exactly once
	const redelivered = await waitFor(async () => {
		const r = await insert('during the outage', 'outage-event-1');
		return r.status === 200 ? r : null;
	}, { timeoutMs: 20000, intervalMs: 200, what: '/insert working again' });
	assert.equal(JSON.parse(redelivered.text).content, 'during the outage');
	assert.equal((await insert('during the outage', 'outage-event-1')).status, 200);
	const n = await st.pg.query("SELECT count(*) FROM book_reviews WHERE event_id = 'outage-event-1'");
	assert.equal(n[0][0], '1');
	// and the live feed picks up new rows again
	const text = `after the outage ${Date.now()}`;
	assert.equal((await insert(text)).status, 200);
	await waitFor(async () => JSON.parse((await get(st.url, '/comments')).text).some((r) => r.content === text),
		{ what: 'the new row in /comments' });
	await waitFor(async () => (await get(st.url, '/readyz')).status === 200, { what: 'node-server ready again' });
	assert.equal((await get(st.dbUrl, '/readyz')).status, 200);
});

test('a second PostgreSQL restart under load: requests hit the outage and get 503, none crash, 200 again after', { skip }, async () => {
	const statuses = new Map();
	let stop = false;
	const load = (async () => {
		let i = 0;
		while (!stop) {
			const r = await insert(`load ${i++}`).catch(() => ({ status: 0 }));
			statuses.set(r.status, (statuses.get(r.status) || 0) + 1);
		}
	})();
	let down = false;
	try {
		await waitFor(() => statuses.get(200) > 0, { timeoutMs: 10000, what: 'a 200 under load before the outage' });
		await st.pg.stop();
		down = true;
		// the load keeps running: some of its requests must meet the outage
		await waitFor(() => statuses.get(503) > 0, { timeoutMs: 20000, intervalMs: 50, what: 'a 503 from the load during the outage' });
		const before = statuses.get(200);
		await st.pg.start();
		down = false;
		await waitFor(() => statuses.get(200) > before, { timeoutMs: 20000, intervalMs: 100, what: 'a 200 from the load after the restart' });
	} finally {
		stop = true;
		await load;
		if (down) await st.pg.start();
	}
	for (const s of statuses.keys()) assert.ok(s === 200 || s === 503, `unexpected status ${s} (${JSON.stringify([...statuses])})`);
});

// db-service answers 409 "try again" when a review's row vanishes between its INSERT and the
// SELECT that reads it back (a DELETE in between, INSERT_ATTEMPTS times in a row). A BEFORE
// INSERT trigger that drops the row makes that happen on every attempt. Knative retries a 409
// or a 503, not a 400, so node-server must not turn it into a rejection.
test('db-service 409 "try again": /insert answers 503 with Retry-After, not 400', { skip }, async (t) => {
	await st.pg.query(`CREATE FUNCTION test_vanish() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.content = 'a vanishing review' THEN RETURN NULL; END IF; RETURN NEW; END $$;
		CREATE TRIGGER test_vanish BEFORE INSERT ON book_reviews
		FOR EACH ROW EXECUTE FUNCTION test_vanish()`);
	t.after(() => st?.pg.query('DROP TRIGGER test_vanish ON book_reviews; DROP FUNCTION test_vanish()'));

	const direct = await fetch(`${st.dbUrl}/reviews`, {
		method: 'POST', headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ reviewText: 'a vanishing review', eventId: `vanish-direct-${Date.now()}` }),
	});
	assert.equal(direct.status, 409, `db-service itself: ${await direct.text()}`);

	const r = await insert('a vanishing review');
	assert.equal(r.status, 503, r.text);
	assert.ok(Number(r.retryAfter) >= 1, `Retry-After: ${r.retryAfter}`);
	assert.equal(JSON.parse(r.text).error, 'unavailable', r.text);
	assert.match(JSON.parse(r.text).message, /try again/, r.text);
	assert.equal((await insert('an ordinary review')).status, 200, 'other reviews are stored');
});

test('SIGTERM: node-server and db-service exit 0 without sanitizer reports', { skip }, async () => {
	const s = st;
	st = null;
	await s.stop(); // asserts exit status 0 and a clean stderr for both
});
