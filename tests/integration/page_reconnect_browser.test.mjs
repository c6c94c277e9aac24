// The page's live feed against a WebSocket that is accepted, sends the list and is dropped at
// once (a hub shedding slow clients, a proxy that cuts sockets): the page backs off further on
// each drop instead of reconnecting every second, since a socket that delivered a message is
// not yet a connection that lasted. Real parts: node-server serving the page, Chromium; the
// WebSocket /comments is answered by the test (Playwright's routeWebSocket), as no real
// server here can be made to drop sockets on cue. Reads the countdown the page shows on its
// badge for each reconnect: it is computed from the delay chosen, so no timing is asserted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, binPath, freePort, stopClean, waitFor } from './lib/proc.mjs';
import { pageSkipReason, launchChromium } from './lib/page.mjs';

const skip = pageSkipReason();
if (skip) console.log(`# skipping the page reconnect test: ${skip}`);

let ns, browser;
before(async () => {
	if (skip) return;
	ns = await startServer(binPath('node-server'), {
		env: { LOG_LEVEL: 'warn', DB_SERVICE_URL: `http://127.0.0.1:${await freePort()}` },
	});
	browser = await launchChromium();
});
after(async () => {
	if (browser) await browser.close();
	if (ns) await stopClean(ns);
});

test('a socket dropped right after the list: each reconnect waits longer (1, 2, 4 s ceilings)', { skip, timeout: 60000 }, async () => {
	const page = await browser.context.newPage();
	const errors = [];
	page.on('pageerror', (e) => errors.push(e.message));
	let sockets = 0;
	await page.routeWebSocket('**/comments', (ws) => {
		sockets++;
		ws.send('[]');
		ws.close();
	});
	const countdowns = [];
	await page.goto(`${ns.url}/`, { waitUntil: 'load' });
	const badge = page.getByTestId('connection-badge');
	for (let k = 1; k <= 4; k++) {
		await waitFor(() => sockets === k, { timeoutMs: 20000, intervalMs: 20, what: `connection ${k}` });
		await waitFor(async () => (await badge.getAttribute('data-state')) === 'reconnecting',
			{ timeoutMs: 5000, intervalMs: 20, what: `the badge after drop ${k}` });
		const m = / in (\d+)s/.exec(await badge.textContent());
		assert.ok(m, await badge.textContent());
		countdowns.push(Number(m[1]));
	}
	console.log(`# countdowns after each drop: ${countdowns.join(', ')} s`);
	// delays are drawn from [ceiling/2, ceiling] with ceilings 1, 2, 4, 8 s; the badge shows
	// the remaining seconds rounded up, read within moments of the drop
	assert.ok(countdowns[3] >= 3, `the fourth reconnect waits about 4-8 s: ${countdowns}`);
	assert.deepEqual(errors, []);
	await page.close();
});
