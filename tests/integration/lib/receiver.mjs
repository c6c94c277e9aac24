// receiver.mjs: a scriptable CloudEvents receiver on 127.0.0.1 for broker tests.
//
//   import { startReceiver } from './lib/receiver.mjs';
//   const rx = await startReceiver((req, i) => ({ status: i < 2 ? 503 : 200 }));
//   ... rx.url is "http://127.0.0.1:<port>"; any path is accepted and recorded ...
//   await rx.waitForCount(3, { timeoutMs: 5000 });
//   rx.requests[0] → { at, method, path, headers, body, answeredWith }
//   (at: ms from performance.now(); answeredWith: the status written, unset while the answer
//   is held back or when the client hung up before it)
//   await rx.close();
//
// - The script gets (req, index, path-local index) for each request, where req is the recorded
//   request, index counts every request and the last argument counts requests to that path.
//   It returns { status = 200, headers = {}, body = '', delayMs = 0 } or a Promise of it.
//   delayMs holds the answer back (to make a subscriber slow or to trigger a timeout).
// - rx.setScript(fn) replaces the script; rx.on(path) lists the requests to one path.
// - latch() holds answers back until the test lets go, with no timer: a script returning
//   held.promise.then(() => ({ status: 200 })) leaves every request unanswered (answeredWith
//   unset) until held.open(). Open it in a finally block, so that a failed test lets go too.
// - Arrival times use performance.now(), so intervals between requests are exact.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A pending promise and the function that resolves it (see the header). */
export function latch() {
	let open;
	const promise = new Promise((resolve) => { open = resolve; });
	return { promise, open };
}

export async function startReceiver(script = () => ({ status: 200 })) {
	const requests = [];
	const perPath = new Map();
	let current = script;
	const server = http.createServer((req, res) => {
		const chunks = [];
		const at = performance.now();
		req.on('data', (c) => chunks.push(c));
		req.on('end', async () => {
			const rec = {
				at, method: req.method, path: req.url, headers: req.headers,
				body: Buffer.concat(chunks).toString('utf8'),
			};
			const index = requests.length;
			requests.push(rec);
			const n = perPath.get(req.url) || 0;
			perPath.set(req.url, n + 1);
			let answer;
			try {
				answer = (await current(rec, index, n)) || {};
			} catch (e) {
				answer = { status: 500, body: `receiver script failed: ${e.message}` };
			}
			if (answer.delayMs)
				await sleep(answer.delayMs);
			if (res.destroyed)
				return; // the client gave up (timeout, cancelled): no answer recorded
			rec.answeredWith = answer.status ?? 200;
			res.writeHead(answer.status ?? 200, answer.headers || {});
			res.end(answer.body ?? '');
		});
	});
	server.keepAliveTimeout = 1000;
	// Node keeps the first 1000 headers by default; a binary-mode event may carry
	// CE_MAX_EXTENSIONS (1000) extensions plus its core attributes.
	server.maxHeadersCount = 0;
	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', resolve);
	});
	const { port } = server.address();
	return {
		port,
		url: `http://127.0.0.1:${port}`,
		requests,
		setScript(fn) { current = fn; },
		on(path) { return requests.filter((r) => r.path === path); },
		async waitForCount(n, { timeoutMs = 10000, path } = {}) {
			const deadline = Date.now() + timeoutMs;
			const count = () => (path ? requests.filter((r) => r.path === path).length : requests.length);
			while (count() < n) {
				if (Date.now() > deadline)
					throw new Error(`receiver got ${count()} requests${path ? ` on ${path}` : ''}, wanted ${n} within ${timeoutMs} ms`);
				await sleep(10);
			}
			return requests;
		},
		async close() {
			server.closeAllConnections();
			await new Promise((r) => server.close(r));
		},
	};
}
