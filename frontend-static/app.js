// Knative Bookstore page: the book (GET /books), live reviews (WebSocket /comments with a GET
// /comments fallback), deleting reviews (DELETE /reviews/{id}) and the review form (POST /add as a
// binary-mode CloudEvent). All data goes into the DOM through textContent and attributes only.

import {
	ADD_MAX_ATTEMPTS,
	MAX_REVIEW_LENGTH,
	addRetryDelayMs,
	errorCode,
	backoffDelay,
	describeAddResponse,
	formatPostTime,
	formatPrice,
	formatPublishedDate,
	newEventId,
	parseReviewsPayload,
	reviewIdOf,
	safeImagePath,
	sentimentInfo,
} from './lib.js';
import { createJourneys, startPanel } from './journey.js';

const THEME_KEY = 'bookstore-theme'; // shared with theme-init.js
const REQUEST_TIMEOUT_MS = 15000;
const CE_SOURCE = 'bookstore-frontend';
const CE_TYPE = 'new-review-comment';

const $ = (id) => document.getElementById(id);

/** URL of a backend endpoint, resolved against the page so a path prefix keeps working. */
function apiUrl(path) {
	return new URL(path, document.baseURI);
}

/** fetch() that gives up after `ms` (the AbortError says so). */
async function fetchWithTimeout(url, options = {}, ms = REQUEST_TIMEOUT_MS) {
	const ctl = new AbortController();
	const timer = setTimeout(() => ctl.abort(), ms);
	try {
		return await fetch(url, { ...options, signal: ctl.signal, cache: 'no-store' });
	} finally {
		clearTimeout(timer);
	}
}

function networkReason(err) {
	return err && err.name === 'AbortError'
		? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
		: 'network error (is node-server running?)';
}

/* ------------------------------------------------------------------ theme */

const theme = {
	media: window.matchMedia('(prefers-color-scheme: dark)'),
	current() {
		const t = document.documentElement.dataset.theme;
		if (t === 'dark' || t === 'light') return t;
		return this.media.matches ? 'dark' : 'light';
	},
	sync() {
		const dark = this.current() === 'dark';
		const button = $('theme-toggle');
		button.setAttribute('aria-pressed', String(dark));
		button.title = dark ? 'Switch to light mode' : 'Switch to dark mode';
	},
	toggle() {
		const next = this.current() === 'dark' ? 'light' : 'dark';
		document.documentElement.dataset.theme = next;
		try {
			localStorage.setItem(THEME_KEY, next);
		} catch {
			// storage disabled: the choice lasts for this page only
		}
		this.sync();
	},
	init() {
		$('theme-toggle').addEventListener('click', () => this.toggle());
		this.media.addEventListener('change', () => this.sync());
		this.sync();
	},
};

/* ------------------------------------------------------------------- book */

function showBookError(message) {
	const section = $('book');
	section.dataset.state = 'error';
	section.setAttribute('aria-busy', 'false');
	$('book-title').textContent = 'The book is not available';
	$('book-error-text').textContent = message;
	$('book-error').hidden = false;
}

function renderBook(book) {
	const text = (v) => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
	const title = text(book.title) || 'Untitled';
	$('book-title').textContent = title;
	$('book-author').textContent = text(book.author) ? `by ${text(book.author)}` : '';
	$('book-price').textContent = formatPrice(book.price, book.currency);
	$('book-description').textContent = text(book.description);
	$('book-isbn').textContent = text(book.isbn) || '—';
	$('book-publisher').textContent = text(book.publisher) || '—';
	const published = $('book-published');
	published.textContent = formatPublishedDate(text(book.published_date)) || '—';
	if (text(book.published_date)) published.dateTime = text(book.published_date);
	$('book-facts').hidden = false;

	const cover = $('book-cover');
	const src = safeImagePath(book.cover);
	if (src) {
		cover.alt = `Cover of ${title}`;
		cover.addEventListener('load', () => ($('book-cover-placeholder').hidden = true), { once: true });
		cover.addEventListener('error', () => (cover.hidden = true), { once: true });
		cover.src = src;
		cover.hidden = false;
	}
	document.title = `${title} · Knative Bookstore`;
	const section = $('book');
	section.dataset.state = 'ready';
	section.setAttribute('aria-busy', 'false');
}

async function loadBook() {
	const section = $('book');
	section.dataset.state = 'loading';
	section.setAttribute('aria-busy', 'true');
	$('book-error').hidden = true;
	let books;
	try {
		const res = await fetchWithTimeout(apiUrl('books'), { headers: { Accept: 'application/json' } });
		if (!res.ok) throw new Error(`HTTP ${res.status}`);
		books = await res.json();
	} catch (err) {
		let why = networkReason(err);
		if (err instanceof SyntaxError) why = 'unreadable answer';
		else if (err.message.startsWith('HTTP')) why = err.message;
		showBookError(`Could not load the book (${why}).`);
		return;
	}
	if (!Array.isArray(books) || books.length === 0 || !books[0] || typeof books[0] !== 'object') {
		showBookError('No book is listed right now.');
		return;
	}
	renderBook(books[0]);
}

/* ---------------------------------------------------------------- reviews */

const reviews = {
	items: new Map(), // review id -> <li>
	deleted: new Set(), // ids this page deleted; hidden even if an older push still lists them
	delivered: false, // a valid list has been shown at least once
};

const shownKeys = new WeakMap(); // <li> -> what it currently shows (skip no-op updates)

function createReviewItem(id) {
	const li = $('review-template').content.firstElementChild.cloneNode(true);
	li.dataset.reviewId = id;
	// The item's "trip" slot (.review__trip, hidden) is reserved for a later issue; not touched here.
	const del = li.querySelector('.review__delete');
	del.setAttribute('aria-label', `Delete review ${id}`);
	del.title = 'Delete this review';
	del.addEventListener('click', () => deleteReview(id, li));
	li.querySelector('.review__journey').addEventListener('click', () => toggleJourney(li));
	return li;
}

/** Writes a row's fields into its item; skips the DOM work when nothing changed. */
function fillReviewItem(li, row) {
	const key = JSON.stringify([row.post_time, row.content, row.sentiment]);
	if (shownKeys.get(li) === key) return;
	shownKeys.set(li, key);
	const time = li.querySelector('.review__time');
	time.textContent = formatPostTime(row.post_time);
	if (typeof row.post_time === 'string') time.dateTime = row.post_time;
	li.querySelector('.review__content').textContent = typeof row.content === 'string' ? row.content : '';
	const s = sentimentInfo(row.sentiment);
	const badge = li.querySelector('.review__sentiment');
	badge.hidden = !s;
	badge.textContent = s ? s.emoji : '';
	li.dataset.sentiment = s ? row.sentiment : 'none';
	if (s) {
		badge.setAttribute('aria-label', `${s.label} sentiment`);
		badge.title = `${s.label} sentiment`;
	}
}

function setReviewsView(view, message = '') {
	$('reviews-loading').hidden = view !== 'loading';
	$('reviews-error').hidden = view !== 'error';
	$('reviews-error').textContent = view === 'error' ? message : '';
	const list = $('review-list');
	list.hidden = view !== 'list';
	if (view !== 'list') $('reviews-count').textContent = '';
	$('reviews-empty').hidden = !(view === 'list' && list.children.length === 0);
	list.dataset.state = view;
}

/** Takes a review's item out of the list, and its journey, if open, out of the followed ones. */
function dropReviewItem(id, li) {
	if (li.dataset.journeyId) journeys.unfollow(li.dataset.journeyId, li.querySelector('.review__trip'));
	li.remove();
	reviews.items.delete(id);
}

/** Replaces the shown list with `rows` (already newest first), keeping unchanged items in place. */
function renderReviews(rows) {
	const list = $('review-list');
	const active = document.activeElement;
	const focused = active && list.contains(active) ? active.closest('li') : null;
	const focusIndex = focused ? Array.prototype.indexOf.call(list.children, focused) : -1;
	const wanted = rows.filter((r) => !reviews.deleted.has(reviewIdOf(r)));
	const keep = new Set(wanted.map(reviewIdOf));

	for (const [id, li] of reviews.items) {
		if (!keep.has(id)) dropReviewItem(id, li);
	}
	wanted.forEach((row, i) => {
		const id = reviewIdOf(row);
		let li = reviews.items.get(id);
		if (!li) {
			li = createReviewItem(id);
			reviews.items.set(id, li);
			// Highlight reviews that arrive while the page is open (not the first batch).
			if (reviews.delivered) {
				li.classList.add('review--new');
				li.addEventListener('animationend', () => li.classList.remove('review--new'), { once: true });
			}
		}
		fillReviewItem(li, row);
		const at = list.children[i];
		if (at !== li) list.insertBefore(li, at || null);
	});

	$('reviews-count').textContent = `(${wanted.length})`;
	reviews.delivered = true;
	setReviewsView('list');
	if (focused && !focused.isConnected) restoreFocus(focusIndex);
}

/** After the focused review disappeared: focus its neighbour's delete button, else the heading. */
function restoreFocus(index) {
	const list = $('review-list');
	const next = list.children[Math.min(index, list.children.length - 1)];
	const target = next ? next.querySelector('.review__delete') : $('reviews-heading');
	target.focus();
}

/** Handles one payload from the WebSocket or GET /comments. */
function applyReviewsPayload(text) {
	const parsed = parseReviewsPayload(text);
	if (parsed.ok) renderReviews(parsed.reviews);
	else setReviewsView('error', parsed.message);
}

async function deleteReview(id, li) {
	const button = li.querySelector('.review__delete');
	const error = li.querySelector('.review__error');
	// aria-disabled, not disabled: a disabled button drops keyboard focus to <body>.
	if (button.getAttribute('aria-disabled') === 'true') return;
	button.setAttribute('aria-disabled', 'true');
	li.setAttribute('aria-busy', 'true');
	error.hidden = true;
	let res;
	try {
		res = await fetchWithTimeout(apiUrl(`reviews/${encodeURIComponent(id)}`), { method: 'DELETE' });
	} catch (err) {
		res = null;
		error.textContent = `Could not delete this review: ${networkReason(err)}.`;
	}
	if (res && (res.status === 204 || res.status === 200 || res.status === 404)) {
		// 404: someone else deleted it first. Either way it is gone; the push will agree.
		reviews.deleted.add(id);
		removeReviewLocally(id);
		return;
	}
	if (res) {
		const info = describeAddResponse(res.status, await res.text().catch(() => ''));
		error.textContent = `Could not delete this review (${info.message}).`;
	}
	error.hidden = false;
	button.removeAttribute('aria-disabled');
	li.removeAttribute('aria-busy');
}

function removeReviewLocally(id) {
	const li = reviews.items.get(id);
	if (!li) return;
	const list = $('review-list');
	const hadFocus = li.contains(document.activeElement);
	const index = Array.prototype.indexOf.call(list.children, li);
	dropReviewItem(id, li);
	$('reviews-count').textContent = `(${reviews.items.size})`;
	setReviewsView('list');
	if (hadFocus) restoreFocus(index);
}

/** GET path as JSON, or null (not found, not JSON, network error). */
async function fetchJson(path) {
	try {
		const res = await fetchWithTimeout(apiUrl(path), { headers: { Accept: 'application/json' } });
		return res.ok ? await res.json() : null;
	} catch {
		return null;
	}
}

const journeys = createJourneys({
	apiUrl,
	fetchJson,
	// a review's journey dropped for a newer one (the follow limit): its button says closed
	onEvicted(id, container) {
		const li = container.closest('li.review');
		if (!li || li.dataset.journeyId !== id) return;
		li.dataset.journeyId = '';
		li.querySelector('.review__journey').setAttribute('aria-expanded', 'false');
	},
});

/** The Journey button of a review: shows (and follows) or hides the review's journey. */
async function toggleJourney(li) {
	const button = li.querySelector('.review__journey');
	const trip = li.querySelector('.review__trip');
	if (button.getAttribute('aria-expanded') === 'true') {
		button.setAttribute('aria-expanded', 'false');
		if (li.dataset.journeyId) journeys.unfollow(li.dataset.journeyId, trip);
		trip.hidden = true;
		trip.replaceChildren();
		return;
	}
	button.setAttribute('aria-expanded', 'true');
	// collapsed, or the review deleted or dropped by a push, while the journey loads: it is
	// not shown or followed after all (open() asks before it follows, which could evict another)
	const gone = () => button.getAttribute('aria-expanded') !== 'true' ||
		reviews.items.get(li.dataset.reviewId) !== li;
	const id = await journeys.open(li.dataset.reviewId, trip, gone);
	if (gone()) {
		if (id) journeys.unfollow(id, trip);
		trip.hidden = true;
		trip.replaceChildren();
		return;
	}
	li.dataset.journeyId = id || '';
}

/* ------------------------------------------------------------- connection */

const feed = {
	ws: null,
	attempt: 0, // connections lost or refused since one lasted STABLE_CONNECTION_MS
	openedAt: 0, // when the current socket opened (0: not open)
	retryTimer: 0,
	tickTimer: 0,
	retryAt: 0,
	gotMessage: false, // this socket delivered something (so the server is really there)
};

const STABLE_CONNECTION_MS = 10000;

const BADGE_TEXT = { connecting: 'Connecting', live: 'Live', reconnecting: 'Reconnecting', offline: 'Offline' };

/** Sets the badge. The countdown part is aria-hidden so screen readers hear state changes only. */
function setBadge(state) {
	const badge = $('connection-badge');
	if (badge.dataset.state !== state || !badge.firstChild) {
		badge.dataset.state = state;
		badge.replaceChildren();
		const label = document.createElement('span');
		label.className = 'badge__label';
		label.textContent = BADGE_TEXT[state];
		const countdown = document.createElement('span');
		countdown.className = 'badge__countdown';
		countdown.setAttribute('aria-hidden', 'true');
		badge.append(label, countdown);
	}
	if (state === 'reconnecting') {
		const secs = Math.max(1, Math.ceil((feed.retryAt - Date.now()) / 1000));
		badge.querySelector('.badge__countdown').textContent = ` in ${secs}s`;
	}
	$('reconnect-now').hidden = !(state === 'reconnecting' || state === 'offline');
}

function clearTimers() {
	clearTimeout(feed.retryTimer);
	clearInterval(feed.tickTimer);
	feed.retryTimer = 0;
	feed.tickTimer = 0;
}

function closeSocket() {
	const ws = feed.ws;
	feed.ws = null;
	if (ws) {
		ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
		ws.close();
	}
}

function wsUrl() {
	const url = apiUrl('comments');
	url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
	return url.href;
}

function connect() {
	clearTimers();
	closeSocket();
	if (!navigator.onLine) {
		setBadge('offline');
		return;
	}
	setBadge('connecting');
	let ws;
	try {
		ws = new WebSocket(wsUrl());
	} catch {
		scheduleReconnect();
		return;
	}
	feed.ws = ws;
	feed.gotMessage = false;
	ws.onopen = () => {
		feed.openedAt = Date.now();
		setBadge('live');
		journeys.attach(ws);
	};
	ws.onmessage = (ev) => {
		feed.gotMessage = true;
		if (typeof ev.data !== 'string') return;
		// {"journey": ...} frames are for the journeys this page follows; the rest is the list.
		if (ev.data.startsWith('{"journey"')) journeys.onMessage(JSON.parse(ev.data));
		else if (!ev.data.startsWith('{"error":"bad_request"')) applyReviewsPayload(ev.data);
	};
	ws.onclose = () => {
		if (feed.ws !== ws) return;
		feed.ws = null;
		// The backoff starts again only after a connection that lasted: a server that accepts
		// the socket, sends the list and drops it at once (a hub shedding slow clients) must not
		// be reconnected to every second by every page.
		if (feed.openedAt && Date.now() - feed.openedAt >= STABLE_CONNECTION_MS) feed.attempt = 0;
		feed.openedAt = 0;
		scheduleReconnect();
	};
}

/** Retries with capped exponential backoff and jitter; shows a countdown on the badge. */
function scheduleReconnect() {
	clearTimers();
	if (!navigator.onLine) {
		setBadge('offline');
		return;
	}
	const delay = backoffDelay(feed.attempt);
	feed.attempt += 1;
	feed.retryAt = Date.now() + delay;
	setBadge('reconnecting');
	feed.tickTimer = setInterval(() => setBadge('reconnecting'), 1000);
	feed.retryTimer = setTimeout(connect, delay);
	// The socket is down: fetch the list over plain HTTP meanwhile (e.g. a proxy without WebSocket).
	if (!reviews.delivered || feed.attempt > 1) loadReviewsOverHttp();
}

async function loadReviewsOverHttp() {
	try {
		const res = await fetchWithTimeout(apiUrl('comments'), { headers: { Accept: 'application/json' } });
		const text = await res.text();
		if (feed.ws && feed.gotMessage) return; // the live feed is newer
		if (res.ok) applyReviewsPayload(text);
		else if (!reviews.delivered) setReviewsView('error', `Could not load the reviews (HTTP ${res.status}).`);
	} catch {
		if (!reviews.delivered) $('reviews-loading').textContent = 'Waiting for the server…';
	}
}

function initConnection() {
	$('reconnect-now').addEventListener('click', connect);
	window.addEventListener('offline', () => {
		clearTimers();
		closeSocket();
		setBadge('offline');
	});
	window.addEventListener('online', () => {
		if (feed.ws) return; // already connected or connecting
		feed.attempt = 0;
		connect();
	});
	loadReviewsOverHttp();
	connect();
}

/* ------------------------------------------------------------------- form */

const form = {
	busy: false,
	done: false,
	succeeded: false,
	journeyId: '', // the posted review's event id, whose journey is shown under the checklist
};

const STEP_STATUS = { pending: 'in progress', ok: 'done', fail: 'failed' };

function setStep(name, state, detail = '') {
	const step = document.querySelector(`#checklist [data-step="${name}"]`);
	step.dataset.state = state;
	step.querySelector('.step__status').textContent = `: ${STEP_STATUS[state]}`;
	step.querySelector('.step__detail').textContent = detail;
}

function updateFormControls() {
	const textarea = $('review-text');
	const length = textarea.value.length;
	const counter = $('review-counter');
	counter.textContent = `${length} / ${MAX_REVIEW_LENGTH}`;
	let level = 'ok';
	if (length >= MAX_REVIEW_LENGTH) level = 'full';
	else if (length > MAX_REVIEW_LENGTH * 0.9) level = 'near';
	counter.dataset.level = level;
	textarea.readOnly = form.busy || form.done;
	const submit = $('review-submit');
	submit.disabled = form.busy || form.done || textarea.value.trim() === '';
	submit.hidden = form.done;
	submit.textContent = form.busy ? 'Sending…' : 'Submit review';
	const reset = $('review-reset');
	reset.hidden = !form.done;
	reset.textContent = form.succeeded ? 'Write another review' : 'Edit and try again';
}

/** Posts the review; returns true when the broker accepted it. Updates the checklist as it goes. */
async function sendReview(text) {
	let id;
	try {
		id = newEventId();
	} catch {
		setStep('packed', 'fail', 'This browser cannot make a random event id.');
		setStep('sent', 'fail', 'Not sent.');
		setStep('accepted', 'fail', 'Not sent.');
		return false;
	}
	setStep('packed', 'ok', `Event id ${id}`);
	let res, body;
	// The review again while node-server answers 503 overloaded (the broker is full, so it did
	// not take the event), at most ADD_MAX_ATTEMPTS times (addRetryDelayMs() says why only then).
	for (let attempt = 1; ; attempt++) {
		try {
			res = await fetchWithTimeout(apiUrl('add'), {
				method: 'POST',
				headers: {
					'Content-Type': 'application/json',
					'ce-specversion': '1.0',
					'ce-type': CE_TYPE,
					'ce-source': CE_SOURCE,
					'ce-id': id,
				},
				body: JSON.stringify({ reviewText: text }),
			});
		} catch (err) {
			setStep('sent', 'fail', `Not delivered: ${networkReason(err)}.`);
			setStep('accepted', 'fail', 'Skipped: the event never reached node-server.');
			return false;
		}
		body = await res.text().catch(() => '');
		const wait = addRetryDelayMs(res.status, errorCode(body), res.headers.get('Retry-After'), attempt);
		if (wait === null) break;
		setStep('sent', 'pending', `node-server answered HTTP 503 (the broker is full): trying again in ${wait / 1000} s (attempt ${attempt + 1} of ${ADD_MAX_ATTEMPTS}).`);
		await new Promise((resolve) => setTimeout(resolve, wait));
	}
	setStep('sent', 'ok', `node-server answered HTTP ${res.status}.`);
	const answer = describeAddResponse(res.status, body);
	setStep('accepted', answer.ok ? 'ok' : 'fail',
		answer.ok && answer.id ? `${answer.message}: node-server sent it on as event ${answer.id}.` : answer.message);
	if (answer.ok && answer.id) {
		form.journeyId = answer.id;
		journeys.follow(answer.id, $('journey-live'));
	}
	return answer.ok;
}

async function submitReview(event) {
	event.preventDefault();
	const textarea = $('review-text');
	const text = textarea.value.trim();
	if (form.busy || form.done || text === '') return;
	const focusWasInForm = $('review-form').contains(document.activeElement);
	form.busy = true;
	$('process-hint').hidden = true;
	$('checklist').hidden = false;
	for (const name of ['packed', 'sent', 'accepted']) setStep(name, 'pending');
	$('checklist').dataset.state = 'running';
	updateFormControls();

	form.succeeded = await sendReview(text);
	form.busy = false;
	form.done = true;
	$('checklist').dataset.state = form.succeeded ? 'ok' : 'fail';
	updateFormControls();
	if (focusWasInForm || document.activeElement === document.body) $('review-reset').focus();
}

function resetForm() {
	const textarea = $('review-text');
	if (form.succeeded) textarea.value = '';
	if (form.journeyId) journeys.unfollow(form.journeyId, $('journey-live'));
	form.journeyId = '';
	form.done = false;
	form.succeeded = false;
	$('checklist').hidden = true;
	$('checklist').dataset.state = 'idle';
	$('process-hint').hidden = false;
	updateFormControls();
	textarea.focus();
}

function initForm() {
	const textarea = $('review-text');
	textarea.maxLength = MAX_REVIEW_LENGTH;
	textarea.addEventListener('input', updateFormControls);
	textarea.addEventListener('keydown', (ev) => {
		if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
			ev.preventDefault();
			$('review-form').requestSubmit();
		}
	});
	$('review-form').addEventListener('submit', submitReview);
	$('review-reset').addEventListener('click', resetForm);
	$('book-retry').addEventListener('click', loadBook);
	updateFormControls();
}

/* ------------------------------------------------------------------- main */

theme.init();
initForm();
loadBook();
initConnection();
journeys.loadSpec().catch(() => {});
startPanel($('delivery-panel'), fetchJson);
