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
