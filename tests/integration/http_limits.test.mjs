// Connection limits (issue 11, point 4), over raw sockets on 127.0.0.1 against file-sink:
//  - one client address holding 1,100 half-sent requests gets at most HTTP_CLIENT_CONNECTIONS
//    of them (a quarter of the 1,000-connection limit by default); a second client address
//    (127.0.0.2) is answered while those connections are still held;
//  - a connection waiting for its headers is closed after HTTP_HEADER_TIMEOUT_MS, while a
//    request whose headers are in keeps the longer HTTP_IDLE_TIMEOUT_MS.
// Before: the 1,100 connections filled the limit and the server answered nobody for 30 s.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { stopClean, waitFor } from './lib/proc.mjs';
import { startSink, removeSinkDirs } from './lib/sinkproc.mjs';

after(removeSinkDirs);

const HALF = 'POST / HTTP/1.1\r\nHost: file-sink\r\nce-id: x\r\n'; // no blank line: headers unfinished

// Opens a socket from localAddress and writes data; resolves once connected and written.
// s.closedByServer turns true when the server closes or resets it.
function openSocket(port, localAddress, data) {
	return new Promise((resolve, reject) => {
		const s = net.connect({ host: '127.0.0.1', port, localAddress });
		s.closedByServer = false;
		s.received = '';
		s.on('data', (d) => { s.received += d.toString('latin1'); });
		s.on('close', () => { s.closedByServer = true; });
		s.on('error', () => { s.closedByServer = true; });
		s.once('connect', () => s.write(data, () => resolve(s)));
		s.once('error', (e) => { if (!s.connecting) return; reject(e); });
	});
}

// Sends one complete GET /healthz from localAddress; resolves with the answer's text.
function healthz(port, localAddress) {
	return new Promise((resolve, reject) => {
		const s = net.connect({ host: '127.0.0.1', port, localAddress });
		let got = '';
		s.on('connect', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
		s.on('data', (d) => { got += d.toString('latin1'); });
		s.on('close', () => resolve(got));
		s.on('error', reject);
	});
}

test('1,100 half-sent requests from one address: another address is still answered', async () => {
	const { srv } = await startSink('file-sink', {
		FAILURE_RATE: '0', HTTP_HEADER_TIMEOUT_MS: '120000', HTTP_IDLE_TIMEOUT_MS: '120000',
	});
	const flood = [];
	try {
		for (let i = 0; i < 1100; i += 50) {
			const batch = [];
			for (let k = 0; k < 50; k++)
				batch.push(openSocket(srv.port, '127.0.0.1', HALF).catch(() => null));
			flood.push(...(await Promise.all(batch)).filter(Boolean));
		}
		let timer;
		const answer = await Promise.race([
			healthz(srv.port, '127.0.0.2'),
			new Promise((_, rej) => {
				timer = setTimeout(() => rej(new Error('127.0.0.2 got no answer within 20 s')), 20000);
			}),
		]).finally(() => clearTimeout(timer));
		assert.match(answer, /^HTTP\/1\.1 200 /, `127.0.0.2 got: ${JSON.stringify(answer.slice(0, 200))}`);

		// The server kept at most a quarter of its 1,000 connections for the flooding address,
		// and those were still held when 127.0.0.2 was answered.
		const held = await waitFor(() => {
			const open = flood.filter((s) => !s.closedByServer).length;
			return open <= 250 ? open : false;
		}, { timeoutMs: 20000, what: 'the server to close the connections beyond the per-address cap' });
		console.log(`one address opened ${flood.length} connections; the server kept ${held}`);
		assert.ok(held > 200, `the server kept ${held} of them, up to its cap`);
	} finally {
		for (const s of flood)
			s.destroy();
		await stopClean(srv);
	}
});

test('a connection without complete headers is closed after HTTP_HEADER_TIMEOUT_MS; a request in progress is not', async () => {
	const { srv } = await startSink('file-sink', {
		FAILURE_RATE: '0', HTTP_HEADER_TIMEOUT_MS: '1000', HTTP_IDLE_TIMEOUT_MS: '120000',
	});
	let waiting, inProgress;
	try {
		// Headers complete, body unfinished: the request is in progress.
		inProgress = await openSocket(srv.port, '127.0.0.1',
			'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a"');
		waiting = await openSocket(srv.port, '127.0.0.1', HALF);
		await waitFor(() => waiting.closedByServer, {
			timeoutMs: 20000, what: 'the server to close the connection whose headers never ended',
		});
		assert.equal(inProgress.closedByServer, false,
			'the request whose headers are in is still open (HTTP_IDLE_TIMEOUT_MS applies to it)');
		assert.equal(inProgress.received, '', 'and it was not answered');
	} finally {
		waiting?.destroy();
		inProgress?.destroy();
		await stopClean(srv);
	}
});
