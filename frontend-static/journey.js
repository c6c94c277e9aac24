// Each review's journey, live (docs/journey.md): what file-sink, dead-letter-logger, the
// moderation Sequence's two steps and node-server reported about one event id, pushed over the
// WebSocket /comments to the pages that follow that id ({"follow": [ids]}), and
// GET /journey/{id} for a review opened from the list.
// The delivery panel sums up the senders' own counters (GET /delivery, polled).
// All data goes into the DOM through textContent and attributes only.

const FOLLOW_MAX = 32; // node-server keeps at most 32 followed ids per socket
const PANEL_POLL_MS = 2000;

/* ---------------------------------------------------------------- pure parts (testable) */

/** The spec's backoffDelay in milliseconds (1 s when it is not known). */
function backoffDelayMs(spec) {
	return spec && Number.isFinite(spec.backoffDelayMs) ? spec.backoffDelayMs : 1000;
}

/**
 * The wait before retry k (1-based) under a delivery spec, as Knative computes it: its retry
 * loop hands the backoff function n = k - 1 (the retries made so far), and waits delay * 2^n
 * (exponential) or delay * n (linear, so the first linear retry is immediate).
 */
export function retryDelayMs(spec, k) {
	const base = backoffDelayMs(spec);
	if (spec && spec.backoffPolicy === 'linear') return base * (k - 1);
	return base * 2 ** (k - 1);
}

/** "+1.02 s" for an offset in milliseconds. */
export function formatOffset(ms) {
	const s = ms / 1000;
	return `${s >= 0 ? '+' : '−'}${Math.abs(s).toFixed(2)} s`;
}

/** The failure rate in file-sink's policy text ("FAILURE_RATE=0.5"), or null (FAIL_EVERY). */
export function policyRate(policy) {
	const m = /^FAILURE_RATE=([0-9.eE+-]+)(,|$)/.exec(policy || '');
	const r = m ? Number(m[1]) : NaN;
	return Number.isFinite(r) && r >= 0 && r <= 1 ? r : null;
}

/*
 * Where a step stands in a review's path, for steps of the same millisecond: the server keeps
 * them in arrival order, and two senders' records race (bad-word-filter's record can reach
 * node-server after sentiment-analysis's, which answered in the same millisecond).
 */
const PATH_RANK = { posted: 0, attempt: 1, 'step:bad-word-filter': 2, 'step:sentiment-analysis': 3, notification: 4, insert: 5, reply: 6, 'dead-letter': 7 };
const pathRank = (s) => PATH_RANK[s.kind === 'step' ? `step:${s.source}` : s.kind] ?? 8;

/**
 * Sorts a journey's steps into what the page shows: {t0, attempts, dead, moderation,
 * notifications, inserts, reply, posted}. t0 is the post time (or the first step's time when
 * node-server did not see the post); every list is in time order, steps of the same
 * millisecond in the order of the review's path (PATH_RANK), then in arrival order.
 */
export function summarize(journey) {
	const steps = Array.isArray(journey && journey.steps) ? journey.steps.filter((s) => s && typeof s === 'object') : [];
	steps.sort((a, b) => (a.time || 0) - (b.time || 0) || pathRank(a) - pathRank(b));
	const posted = steps.find((s) => s.kind === 'posted') || null;
	const t0 = Number.isFinite(journey && journey.posted) ? journey.posted : (steps[0] ? steps[0].time : Date.now());
	return {
		t0,
		posted,
		attempts: steps.filter((s) => s.kind === 'attempt'),
		dead: steps.filter((s) => s.kind === 'dead-letter'),
		moderation: steps.filter((s) => s.kind === 'step'),
		notifications: steps.filter((s) => s.kind === 'notification'),
		inserts: steps.filter((s) => s.kind === 'insert'),
		reply: steps.find((s) => s.kind === 'reply') || null,
	};
}

/** Whether an attempt's outcome means file-sink kept the event. */
function attemptOk(a) {
	return a.outcome === 'saved' || a.outcome === 'duplicate';
}

/**
 * The retry that attempt a was (a.attempt - 1, from file-sink's own count), or 0 when the count
 * did not go up from prev (file-sink restarted in between and counts again from 1). Records can
 * be lost on the way (journey_client drops them when its queue is full), so the count, not the
 * position in the list, says which retry it was.
 */
export function retryOf(prev, a) {
	return a.attempt > prev.attempt ? a.attempt - 1 : 0;
}

/**
 * How many attempts the broker has made at least: file-sink's count in the last record, or the
 * records seen when more (a restart of file-sink started its count again).
 */
export function attemptsMade(sum) {
	const last = sum.attempts[sum.attempts.length - 1];
	return last ? Math.max(last.attempt || 0, sum.attempts.length) : 0;
}

/** Where file-sink's delivery stands: 'saved', 'dead-lettered', 'retrying' or 'waiting'. */
export function deliveryState(sum) {
	if (sum.attempts.some(attemptOk)) return 'saved';
	if (sum.dead.some((d) => !/\/insert$/.test(d.destination || ''))) return 'dead-lettered';
	return sum.attempts.length ? 'retrying' : 'waiting';
}

/** The Sequence's steps by their records' source, as the page names them. */
const STEP_NAMES = { 'bad-word-filter': 'bad-word filter', 'sentiment-analysis': 'sentiment' };

/**
 * Where moderation stands: 'bad' (bad-word-filter said bad, or the bad-review sink was
 * notified: db-insert-trigger never stores it), 'good' (said good), or 'pending'.
 */
export function moderationState(sum) {
	const said = sum.moderation.filter((s) => s.source === 'bad-word-filter' && s.result);
	if (sum.notifications.length || said.some((s) => s.result === 'bad')) return 'bad';
	return said.some((s) => s.result === 'good') ? 'good' : 'pending';
}

/**
 * The moderation Sequence's dead letter, or null. Before a good review is stored, only
 * file-sink's Trigger, the Sequence's steps and the /insert Trigger can dead-letter it: once
 * file-sink saved it and no /insert came, a dead letter not for /insert is a step's (its
 * destination names the step).
 */
export function sequenceDeadLetter(sum) {
	if (deliveryState(sum) !== 'saved' || sum.inserts.length || moderationState(sum) === 'bad') return null;
	return sum.dead.find((d) => !/\/insert$/.test(d.destination || '')) || null;
}

/** "bad-word filter · good · +0.02 s", "sentiment · attempt 2 · positive (0.64) · +1.03 s". */
export function stepText(s, n, t0) {
	const parts = [STEP_NAMES[s.source] || s.source];
	if (n > 1) parts.push(`attempt ${n}`);
	if (s.outcome !== 'answered') parts.push(`failed ${s.code ?? ''}`.trim());
	if (s.result) {
		let r = s.result;
		if (Number.isFinite(s.score)) r += ` (${s.score.toFixed(2)})`;
		if (s.matched) r += `, matches the list entry "${s.matched}"`;
		parts.push(r);
	}
	parts.push(formatOffset(s.time - t0));
	return parts.join(' · ');
}

/** "not stored: sent to badword-broker · notified · +0.05 s". */
export function notificationText(n, t0) {
	const what = n.outcome === 'io error' ? `${n.code ?? 500} io error (retried)` : n.outcome === 'duplicate' ? 'notified again (a redelivery)' : n.outcome;
	return `not stored: sent to badword-broker · ${what} · ${formatOffset(n.time - t0)}`;
}

/* -------------------------------------------------------------------------- rendering */

function el(tag, attrs = {}, text = '') {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
	if (text) e.textContent = text;
	return e;
}

function specText(spec) {
	if (!spec) return 'Delivery spec: not known yet.';
	return `Delivery spec, as read from the Broker: retry ${spec.retry}, ${spec.backoffPolicy} backoff, backoffDelay ${spec.backoffDelay}` +
		` (attempts at t${Array.from({ length: spec.retry }, (_, i) => {
			let at = 0;
			for (let k = 1; k <= i + 1; k++) at += retryDelayMs(spec, k);
			return `, t + ${at / 1000} s`;
		}).join('')}).`;
}

/**
 * node-server's time at the monotonic instant mono (performance.now()), from clock: the "now"
 * of the latest journey it sent (its clock when it made it) and the monotonic instant that
 * journey came, {server, at}. Date.now() when no journey said (an older node-server). The
 * steps' times are the server side's clock, so the countdown counts on this one, never on the
 * browser's wall clock, which may be off the server's by any amount.
 */
export function serverTime(clock, mono) {
	return clock ? clock.server + (mono - clock.at) : Date.now();
}

/** The countdown's text: retry n, due at time due (ms, the server's clock), seen at now (the same). */
function countdownText(n, due, now) {
	const left = due - now;
	return left > 0 ? `next retry (retry ${n}) in ${(left / 1000).toFixed(1)} s` : `retry ${n} due now`;
}

/** The rows of file-sink's attempts, the retries between them and the countdown. */
function deliveredRows(sum, spec, now) {
	const rows = [];
	const first = sum.attempts[0];
	if (first && first.attempt === 1 && sum.posted && first.time - sum.t0 > 0.8 * backoffDelayMs(spec)) {
		rows.push(el('li', { 'data-testid': 'journey-gap', class: 'journey__note' },
			`No attempt reached file-sink before ${formatOffset(first.time - sum.t0)}: the broker's earlier attempts did not get there (file-sink was down or unreachable), and a restarted file-sink counts again from 1.`));
	}
	sum.attempts.forEach((a, i) => {
		if (i > 0) {
			const prev = sum.attempts[i - 1];
			const k = retryOf(prev, a);
			const gap = a.time - prev.time;
			if (k === 0) {
				// file-sink's count went back: it restarted in between (its table is in memory)
				rows.push(el('li', { 'data-testid': 'journey-restart', class: 'journey__note' },
					`a later attempt after ${(gap / 1000).toFixed(2)} s: file-sink restarted in between (it counts attempts since its start), and attempts made while it was down were not seen`));
			} else {
				rows.push(el('li', { 'data-testid': 'journey-retry', class: 'journey__retry' },
					`retry ${k} after ${(gap / 1000).toFixed(2)} s (${spec ? `${spec.backoffPolicy} backoff, ${spec.backoffDelay}: ${retryDelayMs(spec, k) / 1000} s expected` : 'backoff'})`));
			}
		}
		const what = attemptOk(a) ? a.outcome : `${a.code || ''} ${a.outcome}`.trim();
		rows.push(el('li', {
			'data-testid': 'journey-attempt', class: 'journey__attempt',
			'data-attempt': a.attempt, 'data-outcome': a.outcome, 'data-offset-ms': Math.round(a.time - sum.t0),
		}, `attempt ${a.attempt} · ${what} · ${formatOffset(a.time - sum.t0)}`));
	});
	const last = sum.attempts[sum.attempts.length - 1];
	const state = deliveryState(sum);
	if (state === 'retrying' && spec) {
		const n = attemptsMade(sum);
		if (n <= spec.retry) {
			const due = last.time + retryDelayMs(spec, n);
			// aria-live off: the ticker rewrites this text 5 times a second (countdownText())
			rows.push(el('li', {
				'data-testid': 'journey-countdown', class: 'journey__countdown', 'data-due': due, 'data-retry': n,
				'aria-live': 'off',
			}, countdownText(n, due, now)));
		} else {
			rows.push(el('li', { class: 'journey__note' }, 'No retries left: the broker sends the event to the dead-letter sink.'));
		}
	} else if (state === 'waiting') {
		rows.push(el('li', { 'data-testid': 'journey-waiting', class: 'journey__note' },
			'Waiting for file-sink to report an attempt (attempts that never reach it are not seen).'));
	}
	return rows;
}

/**
 * Where the Sequence stands: 'ok' once sentiment-analysis (the last step) answered, 'fail' when
 * the latest attempt failed (a retry or a dead letter follows), else 'pending'.
 */
function sequenceState(sum) {
	const last = sum.moderation[sum.moderation.length - 1];
	if (sequenceDeadLetter(sum)) return 'fail';
	if (sum.moderation.some((s) => s.source === 'sentiment-analysis' && s.outcome === 'answered')) return 'ok';
	return last && last.outcome !== 'answered' ? 'fail' : 'pending';
}

/** The rows of the moderation Sequence: each step's attempts, in time order. */
function moderationRows(sum) {
	const seen = {};
	return sum.moderation.map((s) => {
		seen[s.source] = (seen[s.source] || 0) + 1;
		return el('li', {
			'data-testid': 'journey-step', class: 'journey__step', 'data-step': s.source,
			'data-outcome': s.outcome, 'data-code': s.code ?? '', 'data-result': s.result || '',
			'data-score': Number.isFinite(s.score) ? s.score : '', 'data-offset-ms': Math.round(s.time - sum.t0),
		}, stepText(s, seen[s.source], sum.t0));
	});
}

/** The group after moderation: stored in the database (a good review), or notified (a bad one). */
function outcomeGroup(sum, moderation) {
	if (moderation === 'bad') {
		const rows = sum.notifications.map((n) => el('li', {
			'data-testid': 'journey-notification', 'data-outcome': n.outcome, 'data-offset-ms': Math.round(n.time - sum.t0),
		}, notificationText(n, sum.t0)));
		if (!sum.notifications.some((n) => n.outcome !== 'io error')) {
			rows.push(el('li', { 'data-testid': 'journey-notify-waiting', class: 'journey__note' },
				'Marked bad: db-insert-trigger (badwordfilter: good) will not store it; waiting for badword-broker to deliver it to the notification sink.'));
		}
		return group('not-stored', 'Not stored: a bad review goes to the notification sink (file-sink POST /bad-reviews)',
			sum.notifications.some((n) => n.outcome !== 'io error') ? 'ok' : 'pending', rows);
	}
	const dead = sequenceDeadLetter(sum);
	if (dead) {
		return group('stored', 'Stored in the database (POST /insert)', 'fail', [el('li', { 'data-testid': 'journey-sequence-dead' },
			`not stored: the moderation Sequence dead-lettered it (destination ${dead.destination || 'unknown'}, code ${dead.code ?? 'unknown'}) · ${formatOffset(dead.time - sum.t0)}`)]);
	}
	return group('stored', 'Stored in the database (POST /insert)', sum.inserts.some((s) => /stored/.test(s.outcome)) ? 'ok' : 'pending',
		sum.inserts.map((s) => el('li', { 'data-testid': 'journey-insert', 'data-outcome': s.outcome },
			`attempt ${s.attempt} · ${s.outcome} · ${formatOffset(s.time - sum.t0)}`)));
}

function group(name, title, state, rows) {
	const li = el('li', { class: 'journey__group', 'data-group': name, 'data-testid': `journey-${name}`, 'data-state': state });
	li.append(el('span', { class: 'journey__title' }, title));
	if (rows.length) {
		const ol = el('ol', { class: 'journey__rows' });
		ol.append(...rows);
		li.append(ol);
	}
	return li;
}

/** Renders one journey into a fresh element; ctx.now is the server's time now (serverTime()). */
export function renderJourney(journey, ctx) {
	const { spec, traceUrl } = ctx;
	const now = ctx.now || Date.now();
	const sum = summarize(journey);
	const state = deliveryState(sum);
	const moderation = moderationState(sum);
	const box = el('div', {
		class: 'journey', 'data-testid': 'journey', 'data-journey-id': journey.id,
		'data-delivery': state, 'data-stored': sum.inserts.some((s) => /stored/.test(s.outcome)) ? 'yes' : 'no',
		'data-moderation': sequenceDeadLetter(sum) ? 'dead-lettered' : moderation,
		'data-notified': sum.notifications.some((n) => n.outcome !== 'io error') ? 'yes' : 'no',
	});
	box.append(el('p', { class: 'journey__spec', 'data-testid': 'journey-spec' }, specText(spec)));
	const list = el('ol', { class: 'journey__groups' });
	list.append(group('delivered', 'Delivered to file-sink', state, deliveredRows(sum, spec, now)));
	if (sum.dead.length) {
		list.append(group('dead-letter', 'Dead-lettered', 'fail', sum.dead.map((d) => el('li', {
			'data-testid': 'journey-dead-row', 'data-code': d.code ?? '', 'data-destination': d.destination || '',
		}, `dead-letter-logger recorded it ${formatOffset(d.time - sum.t0)}: destination ${d.destination || 'unknown'}, code ${d.code ?? 'unknown'}${d.response ? `, response ${d.response}` : ''}`))));
	}
	if (sum.moderation.length) {
		list.append(group('moderation', 'Moderated by the Sequence (bad-word filter, then sentiment)',
			sequenceState(sum), moderationRows(sum)));
	}
	list.append(outcomeGroup(sum, moderation));
	if (sum.reply) {
		list.append(group('reply', 'The reply event re-entered the broker', 'ok', [el('li', { 'data-testid': 'journey-reply-row' },
			`${sum.reply.type} (id ${sum.reply.reply_id}) · ${formatOffset(sum.reply.time - sum.t0)}`)]));
	}
	box.append(list);
	if (journey.more > 0) box.append(el('p', { class: 'journey__note' }, `${journey.more} more steps not kept.`));
	if (traceUrl && journey.trace_id) {
		const a = el('a', { href: traceUrl.replace('{traceId}', encodeURIComponent(journey.trace_id)), target: '_blank', rel: 'noopener', 'data-testid': 'journey-trace' }, 'Open the trace');
		box.append(a);
	}
	return box;
}

/* ------------------------------------------------------------------------ controller */

/**
 * The journeys a page shows. opts.apiUrl(path) resolves backend paths; opts.fetch is a fetch
 * with a timeout. follow(id, container) shows id's journey in container and follows it (one id
 * may be shown in several containers: under the form and in the list); attach(ws) (re)sends the
 * follow set on a new socket; onMessage(obj) takes a {"journey"} frame; opts.onEvicted(id,
 * container) is called for each container of the oldest id when a new one would pass the
 * FOLLOW_MAX ids node-server follows per socket (the view is cleared); unfollow(id, container)
 * stops showing it there (all of them without container), and the socket stops following id
 * once no container shows it. A journey is drawn when a frame comes; between frames only the
 * countdowns' text changes (a ticker that runs while there is one), so the rest of a journey,
 * its links and focus, stay put. The countdowns count on node-server's clock (serverTime(),
 * from each journey's "now").
 */
export function createJourneys({ apiUrl, fetchJson, onEvicted = () => {} }) {
	const shown = new Map(); // id -> {containers: Set, journey}
	const ctx = { spec: null, traceUrl: null };
	let ws = null;
	let ticker = 0;
	let clock = null; // {server, at}: the latest journey's "now" and performance.now() then

	const now = () => serverTime(clock, performance.now());
	const heard = (j) => {
		if (Number.isFinite(j.now)) clock = { server: j.now, at: performance.now() };
	};

	const send = (msg) => {
		if (ws && ws.readyState === 1) ws.send(JSON.stringify(msg));
	};
	const clear = (container) => {
		container.hidden = true;
		container.replaceChildren();
	};
	const tick = () => {
		const t = now();
		let running = 0;
		for (const s of shown.values()) {
			for (const c of s.containers) {
				for (const li of c.querySelectorAll('[data-testid="journey-countdown"]')) {
					li.textContent = countdownText(Number(li.dataset.retry), Number(li.dataset.due), t);
					running++;
				}
			}
		}
		if (!running) {
			clearInterval(ticker);
			ticker = 0;
		}
	};
	const drawInto = (s, c) => {
		c.replaceChildren(renderJourney(s.journey, { ...ctx, now: now() }));
		c.hidden = false;
	};
	const draw = (id) => {
		const s = shown.get(id);
		if (!s || !s.journey) return;
		for (const c of s.containers) drawInto(s, c);
		if (!ticker && s.containers.size && deliveryState(summarize(s.journey)) === 'retrying')
			ticker = setInterval(tick, 200);
	};
	const forget = (id) => {
		const s = shown.get(id);
		shown.delete(id);
		for (const c of s.containers) clear(c);
		send({ unfollow: [id] });
	};
	const loadSpec = async () => {
		const d = await fetchJson('delivery');
		if (!d) return null;
		ctx.spec = d.delivery || null;
		ctx.traceUrl = typeof d.traceUrl === 'string' ? d.traceUrl : null;
		return d;
	};

	return {
		ctx,
		loadSpec,
		follow(id, container) {
			let s = shown.get(id);
			if (!s) {
				if (shown.size >= FOLLOW_MAX) {
					// node-server follows at most FOLLOW_MAX ids per socket: the oldest goes,
					// and whoever showed it is told (its view is cleared)
					const oldest = shown.keys().next().value;
					const gone = [...shown.get(oldest).containers];
					forget(oldest);
					for (const c of gone) onEvicted(oldest, c);
				}
				s = { containers: new Set(), journey: null };
				shown.set(id, s);
				send({ follow: [id] });
			}
			s.containers.add(container);
			if (s.journey) {
				drawInto(s, container);
			} else {
				container.hidden = false;
				container.replaceChildren(el('p', { class: 'journey__note', 'data-testid': 'journey-loading' }, 'Following this review…'));
			}
			if (!ctx.spec) loadSpec().then(() => draw(id)).catch(() => {});
		},
		/**
		 * Shows a stored review's journey (GET /reviews/{id}/journey) and follows it; its event
		 * id or null. aborted() is asked when the answer comes: true (the view was closed or its
		 * review removed while it loaded) and nothing is shown or followed (so no other journey
		 * is evicted for it), and open() gives null.
		 */
		async open(reviewId, container, aborted = () => false) {
			container.hidden = false;
			container.replaceChildren(el('p', { class: 'journey__note', 'data-testid': 'journey-loading' }, 'Loading the journey…'));
			const j = await fetchJson(`reviews/${encodeURIComponent(reviewId)}/journey`);
			if (aborted()) return null;
			if (!j || typeof j.id !== 'string') {
				container.replaceChildren(el('p', { class: 'journey__note', 'data-testid': 'journey-none' },
					'No journey kept for this review: node-server keeps those of the newest reviews it stored since it started.'));
				return null;
			}
			heard(j);
			this.follow(j.id, container);
			const s = shown.get(j.id);
			if (s && !s.journey) {
				s.journey = j;
				draw(j.id);
			}
			return j.id;
		},
		unfollow(id, container) {
			const s = shown.get(id);
			if (!s) return;
			if (container && s.containers.delete(container)) clear(container);
			if (!container || s.containers.size === 0) forget(id);
		},
		isShown(id) {
			return shown.has(id);
		},
		attach(socket) {
			ws = socket;
			if (shown.size) send({ follow: [...shown.keys()] });
		},
		onMessage(obj) {
			const j = obj && obj.journey;
			if (!j || typeof j.id !== 'string') return;
			heard(j);
			const s = shown.get(j.id);
			if (!s) return;
			s.journey = j;
			draw(j.id);
		},
	};
}

/* ------------------------------------------------------------------------ the panel */

function cell(dl, key, label, value, testid) {
	const item = el('div', { class: 'panel__item' });
	item.append(el('dt', {}, label), el('dd', { 'data-testid': testid, 'data-key': key }, String(value)));
	dl.append(item);
}

/** Fills the delivery panel from a GET /delivery answer. */
export function renderPanel(box, d) {
	const fs = (d && d.senders && d.senders['file-sink']) || null;
	const dll = (d && d.senders && d.senders['dead-letter-logger']) || null;
	const c = (fs && fs.counters) || {};
	const dead = (dll && dll.counters && dll.counters.dead_letters) || 0;
	const attempts = (c.saved || 0) + (c.error_simulated || 0) + (c.duplicate || 0);
	const events = attempts - (c.redeliveries || 0);
	const spec = d && d.delivery;
	const rate = policyRate(fs && fs.policy);
	const dl = el('dl', { class: 'panel__grid' });
	cell(dl, 'attempts', 'Attempts', attempts, 'panel-attempts');
	cell(dl, 'saved', 'Saved', c.saved || 0, 'panel-saved');
	cell(dl, 'simulated', 'Simulated failures', c.error_simulated || 0, 'panel-simulated');
	cell(dl, 'retries', 'Retries', c.redeliveries || 0, 'panel-retries');
	cell(dl, 'dead', 'Dead letters', dead, 'panel-dead');
	const share = events > 0 ? `${((100 * dead) / events).toFixed(1)}%` : '—';
	const expected = rate !== null && spec ? `${(100 * rate ** (spec.retry + 1)).toFixed(1)}%` : '—';
	cell(dl, 'share', 'Dead-letter share', share, 'panel-share');
	cell(dl, 'expected', `Expected FAILURE_RATE^(retry+1)`, expected, 'panel-expected');
	const note = el('p', { class: 'panel__note' },
		fs ? `From file-sink's and dead-letter-logger's own counters since they started (${fs.policy || 'policy unknown'}).`
			: 'No delivery reported yet: the counters arrive with the first attempt file-sink reports.');
	box.replaceChildren(dl, note);
	box.dataset.state = fs ? 'ready' : 'empty';
}

/** Polls GET /delivery into the panel while the page is visible. */
export function startPanel(box, fetchJson) {
	const poll = async () => {
		if (document.visibilityState === 'visible') {
			const d = await fetchJson('delivery').catch(() => null);
			if (d) renderPanel(box, d);
		}
		setTimeout(poll, PANEL_POLL_MS);
	};
	poll();
}
