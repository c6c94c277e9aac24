// The page in a real browser: headless Debian chromium driven by playwright-core, against the
// whole `make run` wiring (lib/run.mjs: PostgreSQL, db-service, node-server, the local broker
// reading k8s/base/eventing, file-sink, dead-letter-logger). Loads the page from node-server,
// sees the book from the API, posts a review that travels /add → broker → Trigger → /insert →
// db-service and arrives over the WebSocket with the checklist complete, checks that markup in
// a review renders as text, and saves a screenshot under build/screenshots/ (lib/page.mjs;
// containers.test.mjs runs the same check against the node-server container).
import { test, before, after } from 'node:test';
import { startRun, runSkipReason } from './lib/run.mjs';
import { pageSkipReason, launchChromium, checkPage } from './lib/page.mjs';

const skip = pageSkipReason() || runSkipReason();
if (skip) console.log(`# skipping browser tests: ${skip}`);

let st;
let browser;

before(async () => {
	if (skip) return;
	st = await startRun({ env: { FAILURE_RATE: '0', LOG_LEVEL: 'warn' } });
	browser = await launchChromium();
});

after(async () => {
	if (browser) await browser.close();
	if (st) await st.cleanup();
});

test('the page loads from node-server, shows the book, posts a review and shows it live', { skip }, async () => {
	await checkPage(browser.context, st.url);
});
