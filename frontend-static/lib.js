// Pure helpers for the bookstore page: formatting, parsing and the reconnect schedule.
// No DOM access here, so Node can import this module directly (e.g. from a test).

/** Longest review the form accepts, in UTF-16 code units (what textarea maxlength counts). */
export const MAX_REVIEW_LENGTH = 4000;

/** Reconnect schedule: first retry after about BASE ms, doubling up to CAP ms. */
export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_CAP_MS = 30000;

const SENTIMENTS = {
	positive: { emoji: '😃', label: 'Positive' },
	neutral: { emoji: '😐', label: 'Neutral' },
	negative: { emoji: '😡', label: 'Negative' },
};

/**
 * Delay before reconnect attempt number `attempt` (0 for the first retry): exponential growth
 * capped at `cap`, with "equal jitter" (a random point in the upper half) so that many clients
 * dropped at once by a server restart do not all come back in the same instant.
 */
export function backoffDelay(attempt, options = {}) {
	const { base = BACKOFF_BASE_MS, cap = BACKOFF_CAP_MS, random = Math.random } = options;
	const n = Math.max(0, Math.min(Number(attempt) || 0, 30));
	const ceiling = Math.min(cap, base * 2 ** n);
	return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * A fresh CloudEvent id (UUID v4). crypto.randomUUID exists only in secure contexts (https or
 * localhost); over plain http on another host fall back to getRandomValues, which is always there.
 */
export function newEventId(c = globalThis.crypto) {
	if (c && typeof c.randomUUID === 'function') {
		try {
			return c.randomUUID();
		} catch {
			// fall through to the manual version
		}
	}
	const b = new Uint8Array(16);
	c.getRandomValues(b);
	b[6] = (b[6] & 0x0f) | 0x40; // version 4
	b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
	const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
	return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Emoji and label for a sentiment value, or null (no emoji) for null or anything unknown. */
export function sentimentInfo(sentiment) {
	return typeof sentiment === 'string' && Object.hasOwn(SENTIMENTS, sentiment)
		? SENTIMENTS[sentiment]
		: null;
}

/**
 * "2023-12-19" -> "December 19, 2023" (in the user's locale). A date-only value is a calendar
 * date, not an instant, so it is formatted in UTC to avoid showing the day before in the Americas.
 * Anything unparsable is returned unchanged.
 */
export function formatPublishedDate(value, locale) {
	if (typeof value !== 'string' || value === '') return '';
	const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
	const date = m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])) : new Date(value);
	if (Number.isNaN(date.getTime())) return value;
	return new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeZone: m ? 'UTC' : undefined }).format(date);
}

/** A review's post_time (ISO instant) as a short date and time in the user's locale and zone. */
export function formatPostTime(value, locale) {
	const date = new Date(value);
	if (typeof value !== 'string' || Number.isNaN(date.getTime())) return String(value ?? '');
	return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}

/** "49.00" + "USD" -> "$49.00" (locale-aware); falls back to "49.00 USD" for odd input. */
export function formatPrice(price, currency, locale) {
	const amount = Number(price);
	const text = price === undefined || price === null ? '' : String(price);
	if (text === '' || !Number.isFinite(amount)) return '';
	const code = typeof currency === 'string' ? currency.trim().toUpperCase() : '';
	if (/^[A-Z]{3}$/.test(code)) {
		try {
			return new Intl.NumberFormat(locale, { style: 'currency', currency: code }).format(amount);
		} catch {
			// unknown currency code: plain text below
		}
	}
	return code ? `${text} ${code}` : text;
}

/**
 * Only same-origin paths are used as the cover image ("/images/cover.svg", "images/x.svg").
 * Absolute URLs, protocol-relative "//host" and schemes such as "javascript:" yield null.
 */
export function safeImagePath(value) {
	if (typeof value !== 'string' || value === '' || value.length > 2048) return null;
	if (value.startsWith('//') || value.includes('\\') || /^[a-z][a-z0-9+.-]*:/i.test(value)) return null;
	return value;
}

/** A review id we can put into a URL and an attribute: a non-negative integer (or digit string). */
export function reviewIdOf(row) {
	const id = row && row.id;
	if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return String(id);
	if (typeof id === 'string' && /^\d{1,18}$/.test(id)) return id;
	return null;
}

/** Newest first by post_time, then by id (higher first) so equal times keep a stable order. */
export function sortNewestFirst(rows) {
	const time = (r) => {
		const t = Date.parse(r.post_time);
		return Number.isNaN(t) ? -Infinity : t;
	};
	return [...rows].sort((a, b) => time(b) - time(a) || Number(reviewIdOf(b)) - Number(reviewIdOf(a)));
}

/**
 * Parses one WebSocket (or GET /comments) payload. An array is the whole review list; anything
 * else, e.g. {"error": "..."}, is an error the page must show rather than an empty list.
 * Returns {ok: true, reviews} or {ok: false, message}.
 */
export function parseReviewsPayload(text) {
	let data;
	try {
		data = JSON.parse(text);
	} catch {
		return { ok: false, message: 'The server sent reviews the page could not read.' };
	}
	if (!Array.isArray(data)) {
		const why = data && typeof data === 'object' && typeof data.error === 'string' ? data.error : '';
		return {
			ok: false,
			message: why
				? `The server could not load the reviews: ${why}`
				: 'The server sent an unexpected reply instead of the reviews.',
		};
	}
	const reviews = data.filter((r) => r && typeof r === 'object' && reviewIdOf(r) !== null);
	return { ok: true, reviews: sortNewestFirst(reviews) };
}

const STATUS_TEXT = {
	400: 'Bad request',
	404: 'Not found',
	413: 'Review too long',
	429: 'Too many requests',
	500: 'Server error',
	502: 'The broker refused the event',
	503: 'The broker is not reachable or is full',
	504: 'The broker did not answer in time',
};

/**
 * Turns the answer of POST /add into the checklist's last step: {ok, message}. The server's JSON
 * "message" (or "error") is shown when there is one; otherwise a short text for the status code.
 */
export function describeAddResponse(status, bodyText) {
	let body = null;
	try {
		body = JSON.parse(bodyText);
	} catch {
		body = null;
	}
	const fromServer = (k) => {
		const v = body && typeof body === 'object' ? body[k] : undefined;
		return typeof v === 'string' ? v.trim() : '';
	};
	if (status >= 200 && status < 300) {
		return { ok: true, message: fromServer('message') || 'Event forwarded successfully', id: fromServer('id') };
	}
	const reason = fromServer('message') || fromServer('error') || STATUS_TEXT[status] || 'Unexpected answer';
	return { ok: false, message: `HTTP ${status}: ${reason}` };
}

/** Attempts of one review when node-server answers 503 overloaded (the broker is full). */
export const ADD_MAX_ATTEMPTS = 3;
const RETRY_AFTER_CAP_S = 10;

/** The "error" code of a JSON error body ('' when there is none). */
export function errorCode(bodyText) {
	try {
		const body = JSON.parse(bodyText);
		return body && typeof body.error === 'string' ? body.error : '';
	} catch {
		return '';
	}
}

/**
 * How long to wait before sending the same review again, in ms, or null not to retry. Only a
 * 503 whose error is "overloaded" is retried: the broker refused the event (it is full) or
 * node-server could not queue the call, so the review was not taken. Any other 503
 * ("unavailable": K_SINK timed out or is unreachable) may come after the broker took the event,
 * and node-server forwards each /add under a fresh id, so sending it again could store the
 * review twice. The wait is the Retry-After header (delta-seconds or an HTTP date; capped at
 * 10 s, at least 1 s), and only while attempt (1-based, the one just answered) <
 * ADD_MAX_ATTEMPTS.
 */
export function addRetryDelayMs(status, error, retryAfter, attempt, now = Date.now()) {
	if (status !== 503 || error !== 'overloaded' || typeof retryAfter !== 'string' ||
		attempt >= ADD_MAX_ATTEMPTS) return null;
	const v = retryAfter.trim();
	let seconds;
	if (/^\d+$/.test(v)) seconds = Number(v);
	else if (Number.isFinite(Date.parse(v))) seconds = Math.ceil((Date.parse(v) - now) / 1000);
	else return null;
	return Math.min(RETRY_AFTER_CAP_S, Math.max(1, seconds)) * 1000;
}
