// malformed.mjs: malformed CloudEvents requests that a receiver (a Trigger subscriber, a
// dead-letter sink) must each answer with a 4xx and a JSON error body: [name, headers, body].
// A header whose value is undefined is left out (cleanHeaders()).
export const CE = { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'ce-type': 't' };
export const SJ = { 'content-type': 'application/cloudevents+json' };
export const ev = (o) => JSON.stringify({ specversion: '1.0', id: '1', source: '/s', type: 't', ...o });
export const MALFORMED_EVENTS = [
	['no headers, no body', {}, ''],
	['specversion 0.3', { ...CE, 'ce-specversion': '0.3' }, ''],
	['no ce-id', { ...CE, 'ce-id': undefined }, ''],
	['empty ce-id', { ...CE, 'ce-id': '' }, ''],
	['no ce-source', { ...CE, 'ce-source': undefined }, ''],
	['no ce-type', { ...CE, 'ce-type': undefined }, ''],
	['bad ce-time', { ...CE, 'ce-time': 'yesterday' }, ''],
	['invalid UTF-8 in a header', { ...CE, 'ce-subject': '%C0%A0' }, ''],
	['bad percent escape', { ...CE, 'ce-subject': 'a%zz' }, ''],
	['ce-datacontenttype header', { ...CE, 'ce-datacontenttype': 'text/plain' }, 'x'],
	['bad extension name header', { ...CE, 'ce-bad_name': 'x' }, ''],
	['structured: not JSON', SJ, '{'],
	['structured: an array', SJ, '[]'],
	['structured: a string', SJ, '"x"'],
	['structured: missing id', SJ, JSON.stringify({ specversion: '1.0', source: '/s', type: 't' })],
	['structured: specversion 2.0', SJ, ev({ specversion: '2.0' })],
	['structured: id is a number', SJ, ev({ id: 5 })],
	['structured: data and data_base64', SJ, ev({ data: 1, data_base64: 'AA==' })],
	['structured: bad data_base64', SJ, ev({ data_base64: '!!!' })],
	['structured: bad time', SJ, ev({ time: 'yesterday' })],
	['structured: bad extension name', SJ, ev({ 'Bad-Name': 1 })],
	['structured: object extension', SJ, ev({ ext: { a: 1 } })],
	['structured: empty subject', SJ, ev({ subject: '' })],
	['structured +xml', { 'content-type': 'application/cloudevents+xml' }, '<e/>'],
	['batch', { 'content-type': 'application/cloudevents-batch+json' }, `[${ev({})}]`],
	['empty batch', { 'content-type': 'application/cloudevents-batch+json' }, '[]'],
];

export function cleanHeaders(h) {
	return Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined));
}

// Malformed POST /journey bodies (node-server, services/node-server/journey.h): each must be
// answered 400 with a JSON error body, and nothing of the batch kept. [name, body, error code].
const rec = (o = {}) => ({ id: 'j-1', source: 'file-sink', kind: 'attempt', time: 1700000000000, attempt: 1, outcome: 'saved', ...o });
const dead = (o = {}) => ({ id: 'j-1', source: 'dead-letter-logger', kind: 'dead-letter', time: 1700000000000, ...o });
const step = (source, o = {}) => ({ id: 'j-1', source, kind: 'step', time: 1700000000000, outcome: 'answered', code: 200, ...o });
const note = (o = {}) => ({ id: 'j-1', source: 'file-sink', kind: 'notification', time: 1700000000000, outcome: 'notified', code: 200, ...o });
const batch = (...r) => JSON.stringify({ records: r });
export const MALFORMED_JOURNEYS = [
	['empty body', '', 'invalid_json'],
	['not JSON', '{"records": [', 'invalid_json'],
	['an array', '[]', 'validation_failed'],
	['no records', '{}', 'validation_failed'],
	['records not an array', '{"records": {}}', 'validation_failed'],
	['zero records', '{"records": []}', 'validation_failed'],
	['65 records', batch(...Array.from({ length: 65 }, () => rec())), 'validation_failed'],
	['an extra top-level key', JSON.stringify({ records: [rec()], x: 1 }), 'validation_failed'],
	['duplicate keys', '{"records": [], "records": []}', 'invalid_json'],
	['a record that is a string', batch('x'), 'validation_failed'],
	['no id', batch(rec({ id: undefined })), 'validation_failed'],
	['empty id', batch(rec({ id: '' })), 'validation_failed'],
	['id of 129 bytes', batch(rec({ id: 'x'.repeat(129) })), 'validation_failed'],
	['id with a control character', batch(rec({ id: 'a\u0001b' })), 'validation_failed'],
	['id with a NUL', batch(rec({ id: 'a\u0000b' })), 'invalid_json'],
	['id a number', batch(rec({ id: 5 })), 'validation_failed'],
	['unknown source', batch(rec({ source: 'broker' })), 'validation_failed'],
	['source and kind mismatched', batch(rec({ kind: 'dead-letter' })), 'validation_failed'],
	['no time', batch(rec({ time: undefined })), 'validation_failed'],
	['time negative', batch(rec({ time: -1 })), 'validation_failed'],
	['time a float', batch(rec({ time: 1.5 })), 'validation_failed'],
	['time a string', batch(rec({ time: '1' })), 'validation_failed'],
	['attempt 0', batch(rec({ attempt: 0 })), 'validation_failed'],
	['attempt 1001', batch(rec({ attempt: 1001 })), 'validation_failed'],
	['no attempt', batch(rec({ attempt: undefined })), 'validation_failed'],
	['unknown outcome', batch(rec({ outcome: 'lost' })), 'validation_failed'],
	['code 1000', batch(rec({ code: 1000 })), 'validation_failed'],
	['trace_id not hex', batch(rec({ trace_id: 'Z'.repeat(32) })), 'validation_failed'],
	['trace_id uppercase', batch(rec({ trace_id: 'A'.repeat(32) })), 'validation_failed'],
	['counters not an object', batch(rec({ counters: [1] })), 'validation_failed'],
	['a negative counter', batch(rec({ counters: { saved: -1 } })), 'validation_failed'],
	['17 counters', batch(rec({ counters: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`c${i}`, 1])) })), 'validation_failed'],
	['policy of 65 bytes', batch(rec({ policy: 'p'.repeat(65) })), 'validation_failed'],
	['destination on an attempt', batch(rec({ destination: 'http://x' })), 'validation_failed'],
	['response of 1025 bytes', batch(dead({ response: 'r'.repeat(1025) })), 'validation_failed'],
	['destination of 513 bytes', batch(dead({ destination: 'd'.repeat(513) })), 'validation_failed'],
	['an unknown key', batch(rec({ extra: true })), 'validation_failed'],
	['one good, one bad record', batch(rec(), rec({ attempt: -1 })), 'validation_failed'],
	// the moderation Sequence's steps and the bad-review notification
	['a step of an unknown service', batch(step('node-server')), 'validation_failed'],
	['a step without a code', batch(step('bad-word-filter', { code: undefined })), 'validation_failed'],
	['a step without an outcome', batch(step('bad-word-filter', { outcome: undefined })), 'validation_failed'],
	['a step outcome of an attempt', batch(step('bad-word-filter', { outcome: 'saved' })), 'validation_failed'],
	['bad-word-filter result positive', batch(step('bad-word-filter', { result: 'positive' })), 'validation_failed'],
	['sentiment result bad', batch(step('sentiment-analysis', { result: 'bad' })), 'validation_failed'],
	['sentiment score 1.5', batch(step('sentiment-analysis', { result: 'positive', score: 1.5 })), 'validation_failed'],
	['sentiment score a string', batch(step('sentiment-analysis', { score: '0.5' })), 'validation_failed'],
	['a score on bad-word-filter', batch(step('bad-word-filter', { score: 0.5 })), 'validation_failed'],
	['matched on sentiment-analysis', batch(step('sentiment-analysis', { matched: 'x' })), 'validation_failed'],
	['matched of 65 bytes', batch(step('bad-word-filter', { result: 'bad', matched: 'm'.repeat(65) })), 'validation_failed'],
	['an attempt number on a step', batch(step('bad-word-filter', { attempt: 1 })), 'validation_failed'],
	['counters on a step', batch(step('sentiment-analysis', { counters: { a: 1 } })), 'validation_failed'],
	['a notification without an outcome', batch(note({ outcome: undefined })), 'validation_failed'],
	['a notification outcome of a step', batch(note({ outcome: 'answered' })), 'validation_failed'],
	['counters on a notification', batch(note({ counters: { saved: 1 } })), 'validation_failed'],
	['a notification from dead-letter-logger', batch(note({ source: 'dead-letter-logger' })), 'validation_failed'],
];
