// rawhttp.mjs: send exact bytes to a server over TCP and parse whatever comes back.
//
//   import { rawRequest } from './lib/rawhttp.mjs';
//   const r = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
//   r.status       // 200, or 0 when no status line arrived
//   r.headers      // { 'content-type': '...' } lowercase names; repeated ones joined by ', '
//   r.rawHeaders   // [[name, value], ...] in order, as received
//   r.body         // Buffer (chunked bodies are de-chunked)
//   r.text, r.json()
//   r.closed       // the server closed the connection; r.timedOut if the deadline hit first
//
// data may be a string (sent as latin1, so every char is one byte), a Buffer, or an array of
// those sent one after another with opts.gapMs between them. Reading stops when one complete
// response has been parsed, when the server closes, or after opts.timeoutMs (default 5000).
// opts.end = true half-closes the socket after sending (a truncated request); opts.head = true
// expects no body (answers to HEAD); opts.untilClose = true reads until the server closes (r.raw
// then holds everything, e.g. the bytes after a 101).
import net from 'node:net';

function toBuf(x) {
	return Buffer.isBuffer(x) ? x : Buffer.from(String(x), 'latin1');
}

// Parses one response from buf; returns null while incomplete (unless final).
export function parseResponse(buf, final = false, head = false) {
	const end = buf.indexOf('\r\n\r\n');
	if (end < 0)
		return final && buf.length ? { status: 0, partial: buf } : null;
	const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
	const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
	const rawHeaders = lines.slice(1).map((l) => {
		const i = l.indexOf(':');
		return [l.slice(0, i).trim(), l.slice(i + 1).trim()];
	});
	const headers = {};
	for (const [k, v] of rawHeaders) {
		const lk = k.toLowerCase();
		headers[lk] = lk in headers ? `${headers[lk]}, ${v}` : v;
	}
	const status = m ? Number(m[2]) : 0;
	const rest = buf.subarray(end + 4);
	let body;
	if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) {
		body = Buffer.alloc(0);
	} else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
		body = dechunk(rest);
		if (!body && !final)
			return null;
	} else if ('content-length' in headers) {
		const n = Number(headers['content-length']);
		if (rest.length < n && !final)
			return null;
		body = rest.subarray(0, n);
	} else {
		if (!final)
			return null;
		body = rest;
	}
	body = body || rest;
	return {
		status, version: m && m[1], statusText: m ? m[3] || '' : '', headers, rawHeaders, body,
		text: body.toString('utf8'),
		json() { return JSON.parse(this.text); },
	};
}

function dechunk(buf) {
	const parts = [];
	let i = 0;
	for (;;) {
		const eol = buf.indexOf('\r\n', i);
		if (eol < 0)
			return null;
		const size = parseInt(buf.subarray(i, eol).toString('latin1'), 16);
		if (Number.isNaN(size))
			return null;
		if (size === 0)
			return Buffer.concat(parts);
		if (buf.length < eol + 2 + size + 2)
			return null;
		parts.push(buf.subarray(eol + 2, eol + 2 + size));
		i = eol + 2 + size + 2;
	}
}

export function rawRequest(port, data, opts = {}) {
	const { host = '127.0.0.1', timeoutMs = 5000, gapMs = 20, end = false, head = false, untilClose = false } = opts;
	const pieces = Array.isArray(data) ? data.map(toBuf) : [toBuf(data)];
	return new Promise((resolve, reject) => {
		const chunks = [];
		let done = false;
		const sock = net.connect({ port, host });
		const finish = (extra) => {
			if (done)
				return;
			done = true;
			clearTimeout(timer);
			const buf = Buffer.concat(chunks);
			const r = parseResponse(buf, true, head) || { status: 0 };
			sock.destroy();
			resolve({ ...r, raw: buf, closed: false, timedOut: false, ...extra });
		};
		const timer = setTimeout(() => finish({ timedOut: true }), timeoutMs);
		sock.on('error', (e) => {
			if (e.code === 'ECONNRESET' || e.code === 'EPIPE')
				finish({ closed: true, reset: true });
			else if (!done) {
				done = true;
				clearTimeout(timer);
				reject(e);
			}
		});
		sock.on('data', (d) => {
			chunks.push(d);
			if (!untilClose && parseResponse(Buffer.concat(chunks), false, head))
				finish({});
		});
		sock.on('end', () => finish({ closed: true }));
		sock.on('connect', async () => {
			for (let i = 0; i < pieces.length; i++) {
				if (done)
					return;
				if (i > 0)
					await new Promise((r) => setTimeout(r, gapMs));
				sock.write(pieces[i]);
			}
			if (end)
				sock.end();
		});
	});
}
