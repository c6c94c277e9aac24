// The real images, run as the cluster runs them. `make images` (scripts/images.sh: the Docker
// engine, a Debian base image made with debootstrap, the seven service images and a PostgreSQL 15
// image from Debian's postgresql-15) runs first; unchanged images are reused. Then, on a Docker
// network of their own, PostgreSQL and the seven images run with the constraints of the
// k8s/base/services manifests' securityContext:
//   --read-only, --user 65532:65532, --cap-drop ALL, --security-opt no-new-privileges,
//   tmpfs /data and /tmp (the emptyDir volumes), PORT=8080 (Knative's $PORT),
// and the local broker reads the Brokers, Triggers and the moderation Sequence of
// k8s/base/eventing baked into its image (the Sequence's steps are the two step containers).
// Each container's port 8080 is published on 127.0.0.1 only (an ephemeral port Docker picks).
// The service images are distroless (FROM scratch: the binary, its shared objects, no shell):
// what the service process sees is checked from a tool container sharing its PID namespace, and
// each image must be at most 30 MB, with no shell and no package manager in it.
//
// Against them: 200 reviews with FAILURE_RATE=0.5 (each saved once or dead-lettered once, the
// database holding each once), the page in Chromium (lib/page.mjs), and
// `docker exec <file-sink> cat /data/events.log` (and bad-reviews.log, where a bad review ends
// up instead of the database), the user's own `kubectl exec` step.
//
// No Docker engine is a FAILURE, with the reason printed: CI (root, fresh Debian 12) must run
// this. On a machine that cannot run containers at all, CONTAINER_TEST=skip skips it, saying so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot, waitFor } from './lib/proc.mjs';
import { postReviews, account, waitAccounted, metric } from './lib/run.mjs';
import { pageSkipReason, launchChromium, checkPage } from './lib/page.mjs';
import { which, kustomize, toObjects } from '../k8s/manifests.mjs';

const DOCKER = process.env.DOCKER || 'docker';
const skip = process.env.CONTAINER_TEST === 'skip'
	? 'CONTAINER_TEST=skip: this machine cannot run containers (CI must not set it)' : false;
if (skip) console.log(`# skipping container tests: ${skip}`);

const N = 200;
const P = 0.5 ** 3;
// ±5 standard deviations of Binomial(200, 0.125): sd = 4.68, so 25 ± 23.4, i.e. 2..48.
const SD = Math.sqrt(N * P * (1 - P));
const LOW = Math.ceil(N * P - 5 * SD);
const HIGH = Math.floor(N * P + 5 * SD);

const SERVICES = ['db-service', 'file-sink', 'dead-letter-logger', 'bad-word-filter', 'sentiment-analysis', 'local-broker', 'node-server'];
const UID = '65532';
const TARGET_MB = 30; // issue 14: each service image at most 30 MB (docker image inspect's Size)
const run = crypto.randomBytes(3).toString('hex');
const net = `bookstore-test-${run}`;
const cname = (s) => `bookstore-test-${run}-${s}`;
const password = crypto.randomBytes(24).toString('hex');
const started = [];
const logDir = path.join(repoRoot, 'build/test-logs');
let images;
let st;

function docker(args, { input, timeout = 120000, check = true } = {}) {
	const r = spawnSync(DOCKER, args, { encoding: 'utf8', input, timeout, maxBuffer: 256 << 20 });
	if (check && r.status !== 0)
		throw new Error(`${DOCKER} ${args.join(' ')} failed (${r.status ?? r.error?.message}):\n${r.stderr}`);
	return r;
}

// A long command (a build) run without blocking the event loop. Under spawnSync, fetch cannot
// see a server close its idle keep-alive connection (HTTP_IDLE_TIMEOUT_MS, 30 s by default), and
// the next request goes out on the dead socket: "fetch failed", "other side closed". Resolves
// with spawnSync's { status, stdout, stderr }.
function runAsync(cmd, args, { cwd, timeout }) {
	return new Promise((resolve) => {
		execFile(cmd, args, { cwd, timeout, encoding: 'utf8', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
			const status = err == null ? 0 : typeof err.code === 'number' ? err.code : null;
			resolve({ status, stdout, stderr: err && status === null ? `${stderr}\n${err.message}` : stderr });
		});
	});
}

// The flags of the cluster's securityContext, and tmpfs mounts where the manifests have emptyDir
// volumes (checked against k8s/base below). The local broker is not deployed on the cluster; it
// gets the sinks' volumes (its restart spool lives in /data).
const CONSTRAINTS = ['--read-only', '--user', `${UID}:${UID}`, '--cap-drop', 'ALL',
	'--security-opt', 'no-new-privileges'];
const TMPFS = {
	'/data': `/data:rw,nosuid,nodev,uid=${UID},gid=${UID},mode=0700`,
	'/tmp': '/tmp:rw,nosuid,nodev,mode=1777',
};
const EMPTYDIRS = {
	'db-service': ['/tmp'], 'node-server': ['/tmp'], 'file-sink': ['/data', '/tmp'],
	'dead-letter-logger': ['/data', '/tmp'], 'local-broker': ['/data', '/tmp'],
	'bad-word-filter': ['/tmp'], 'sentiment-analysis': ['/tmp'],
};
const constraints = (s) => [...CONSTRAINTS, ...EMPTYDIRS[s].flatMap((d) => ['--tmpfs', TMPFS[d]])];

function start(name, image, env, extra = []) {
	const envArgs = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
	docker(['run', '-d', '--name', cname(name), '--network', net, '--network-alias', name,
		'-p', '127.0.0.1::8080', ...extra, ...envArgs, image]);
	started.push(name);
}

// A command in a throw-away container that shares the service's PID namespace, as the same
// user and with the same constraints: the service images have no shell, so /proc/1 (the
// service) and /proc/1/root (its root filesystem, mounts included) are read from outside. The
// PostgreSQL test image (Debian, with a shell) serves as the tool box.
function inside(name, script) {
	const r = docker(['run', '--rm', '--pid', `container:${cname(name)}`, '--network', 'none',
		'--user', `${UID}:${UID}`, '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
		'--entrypoint', 'sh', images['postgresql-15'], '-c', script], { check: false });
	return `${r.stdout}${r.stderr}`;
}

/** Every path in a container's filesystem (`docker export` | `tar -t`), without a leading /. */
function files(name) {
	const r = spawnSync('sh', ['-c', `"$0" export "$1" | tar -t`, DOCKER, cname(name)], { encoding: 'utf8', maxBuffer: 64 << 20 });
	assert.equal(r.status, 0, `docker export ${cname(name)} | tar -t: ${r.stderr}`);
	return r.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^\.?\//, ''));
}

function hostUrl(name) {
	const out = docker(['port', cname(name), '8080/tcp']).stdout.trim().split('\n')[0];
	assert.match(out, /^127\.0\.0\.1:\d+$/, `${name} is published on 127.0.0.1 only: ${out}`);
	return `http://${out}`;
}

/** The JSON lines of /data/events.log (or another file) inside a container, read with `docker exec cat`. */
function eventsLog(name, file = '/data/events.log') {
	const r = docker(['exec', cname(name), 'cat', file], { check: false });
	if (r.status !== 0) return [];
	const end = r.stdout.lastIndexOf('\n');
	return end < 0 ? [] : r.stdout.slice(0, end).split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

function query(sql) {
	const r = docker(['exec', cname('postgresql'), 'psql', '-X', '-q', '-A', '-t', '-F', '\x1f',
		'-v', 'ON_ERROR_STOP=1', '-U', 'postgres', '-d', 'bookstore', '-c', sql]);
	return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\x1f'));
}

before(async () => {
	if (skip) return;
	// The images: scripts/images.sh starts the engine when it is down (as root) and rebuilds
	// only what changed. Its output says why when it cannot.
	const t0 = Date.now();
	const b = spawnSync(path.join(repoRoot, 'scripts/images.sh'), ['build'], {
		cwd: repoRoot, encoding: 'utf8', timeout: 30 * 60000, maxBuffer: 64 << 20,
	});
	console.log(b.stdout.trim());
	if (b.status !== 0)
		throw new Error(`make images failed, so no container can run (status ${b.status ?? b.error?.message}):\n${b.stderr}`);
	console.log(`make images took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
	images = Object.fromEntries(spawnSync(path.join(repoRoot, 'scripts/images.sh'), ['list'], { encoding: 'utf8' })
		.stdout.trim().split('\n').map((ref) => [ref.slice('dev.local/'.length, ref.lastIndexOf(':')), ref]));

	docker(['network', 'create', net]);
	// PostgreSQL: Debian's postgresql-15, read-only, data and socket on tmpfs, not published.
	docker(['run', '-d', '--name', cname('postgresql'), '--network', net, '--network-alias', 'postgresql',
		'--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
		'--tmpfs', '/var/lib/postgresql:uid=999,gid=999,mode=0700',
		'--tmpfs', '/var/run/postgresql:uid=999,gid=999,mode=0775', '--tmpfs', '/tmp:mode=1777',
		'-e', 'PG_LISTEN=*', '-e', `POSTGRES_PASSWORD=${password}`, images['postgresql-15']]);
	started.push('postgresql');
	await waitFor(() => docker(['exec', cname('postgresql'), 'pg_isready', '-q', '-d', 'bookstore'], { check: false }).status === 0,
		{ timeoutMs: 60000, intervalMs: 200, what: 'PostgreSQL in its container' });

	const url = (s) => `http://${s}:8080`;
	const common = { PORT: '8080', LOG_LEVEL: 'warn' };
	start('db-service', images['db-service'], { ...common, PGHOST: 'postgresql', PGUSER: 'postgres', PGPASSWORD: password, PGDATABASE: 'bookstore', DB_POOL_SIZE: '4' }, constraints('db-service'));
	start('file-sink', images['file-sink'], { ...common, DATA_DIR: '/data', FAILURE_RATE: '0.5' }, constraints('file-sink'));
	start('dead-letter-logger', images['dead-letter-logger'], { ...common, DATA_DIR: '/data' }, constraints('dead-letter-logger'));
	start('bad-word-filter', images['bad-word-filter'], common, constraints('bad-word-filter'));
	start('sentiment-analysis', images['sentiment-analysis'], common, constraints('sentiment-analysis'));
	start('local-broker', images['local-broker'], {
		...common, DATA_DIR: '/data',
		BROKER_SERVICES: ['node-server', 'file-sink', 'dead-letter-logger', 'bad-word-filter', 'sentiment-analysis']
			.map((s) => `${s}=${url(s)}`).join(','),
	}, constraints('local-broker'));
	start('node-server', images['node-server'], {
		...common, DB_SERVICE_URL: url('db-service'), K_SINK: `${url('local-broker')}/bookstore/bookstore-broker`,
	}, constraints('node-server'));

	st = Object.fromEntries(SERVICES.map((s) => [s, hostUrl(s)]));
	for (const s of SERVICES) {
		await waitFor(async () => {
			const state = docker(['inspect', '-f', '{{.State.Running}}', cname(s)]).stdout.trim();
			if (state !== 'true') throw new Error(`${s} exited:\n${docker(['logs', cname(s)], { check: false }).stderr}`);
			return (await fetch(`${st[s]}/readyz`).catch(() => null))?.ok;
		}, { timeoutMs: 30000, intervalMs: 100, what: `${s}'s /readyz in its container` });
	}
	// The shape lib/run.mjs's review helpers expect, with both logs read through docker exec.
	st.url = st['node-server'];
	st.brokerUrl = st['local-broker'];
	st.metrics = async (base) => (await fetch(`${base}/metrics`)).text();
	st.sinkLines = () => eventsLog('file-sink');
	st.deadLetters = () => eventsLog('dead-letter-logger');
});

after(() => {
	fs.mkdirSync(logDir, { recursive: true });
	for (const s of started) {
		const l = docker(['logs', cname(s)], { check: false });
		fs.writeFileSync(path.join(logDir, `container-${s}.log`), `${l.stdout}${l.stderr}`);
		docker(['rm', '-f', '-v', cname(s)], { check: false });
	}
	if (started.length || images) docker(['network', 'rm', net], { check: false });
});

test('the seven images run read-only, as 65532, without capabilities, with tmpfs where the manifests have emptyDir', { skip }, () => {
	for (const s of SERVICES) {
		const [c] = JSON.parse(docker(['inspect', cname(s)]).stdout);
		assert.equal(c.Config.Image, images[s], `${s} runs the content-tagged image`);
		assert.equal(c.HostConfig.ReadonlyRootfs, true, s);
		assert.equal(c.Config.User, `${UID}:${UID}`, s);
		assert.deepEqual(c.HostConfig.CapDrop, ['ALL'], s);
		assert.deepEqual(c.HostConfig.SecurityOpt, ['no-new-privileges'], s);
		assert.deepEqual(Object.keys(c.HostConfig.Tmpfs).sort(), EMPTYDIRS[s], s);
		assert.ok(c.Config.Env.includes('PORT=8080'), s);
		for (const b of c.NetworkSettings.Ports['8080/tcp']) assert.equal(b.HostIp, '127.0.0.1', s);
		// inside, seen by the service's own process (pid 1): uid 65532, / not writable, /data
		// and /tmp writable
		const dirs = EMPTYDIRS[s].map((d) => `/proc/1/root${d}/.w`).join(' ');
		const w = inside(s, `grep -E '^(Uid|Gid):' /proc/1/status; touch /proc/1/root/usr/x 2>&1; touch ${dirs} && echo ok`);
		assert.match(w, new RegExp(`^Uid:\\t${UID}\\t${UID}\\t${UID}\\t${UID}$`, 'm'), `${s} runs as ${UID}: ${w}`);
		assert.match(w, new RegExp(`^Gid:\\t${UID}\\t${UID}\\t${UID}\\t${UID}$`, 'm'), `${s} runs as group ${UID}: ${w}`);
		assert.match(w, /Read-only file system/, `${s}: the root filesystem is read-only`);
		assert.match(w, /ok$/m, `${s}: ${EMPTYDIRS[s].join(' and ')} writable`);
	}
	// The local broker routes by the manifests baked into its image.
	const [b] = JSON.parse(docker(['inspect', cname('local-broker')]).stdout);
	assert.ok(b.Config.Env.includes('BROKER_MANIFESTS=/etc/bookstore/eventing'));
	const baked = files('local-broker').filter((f) => f.startsWith('etc/bookstore/eventing/') && !f.endsWith('/'))
		.map((f) => path.basename(f)).sort();
	assert.deepEqual(baked, fs.readdirSync(path.join(repoRoot, 'k8s/base/eventing')).sort());
});

test('each service image is at most 30 MB and distroless: no shell, no package manager, only what it runs', { skip }, () => {
	const sizes = [];
	for (const s of SERVICES) {
		const bytes = Number(docker(['image', 'inspect', '-f', '{{.Size}}', images[s]]).stdout.trim());
		sizes.push(`${s} ${(bytes / 1e6).toFixed(1)} MB`);
		assert.ok(bytes > 1e6 && bytes <= TARGET_MB * 1e6, `${s}: ${bytes} bytes, over ${TARGET_MB} MB`);
		const all = files(s);
		const names = all.map((f) => f.replace(/\/$/, ''));
		const banned = names.filter((f) => /(^|\/)(sh|bash|dash|busybox|apt|apt-get|dpkg|perl)$|^var\/lib\/(dpkg|apt)$/.test(f));
		assert.deepEqual(banned, [], `${s}: no shell and no package manager in the image`);
		// Executables: the service, the loader, and cat in the two sinks (their logs are read
		// with `kubectl exec ... -- cat`); everything else is a shared object, data or /etc.
		const exe = names.filter((f) => /^(usr\/)?(local\/)?s?bin\/./.test(f)).sort();
		const sink = s === 'file-sink' || s === 'dead-letter-logger';
		assert.deepEqual(exe, [...(sink ? ['usr/bin/cat'] : []), `usr/local/bin/${s}`].sort(), `${s}: executables`);
		assert.ok(names.includes('lib64/ld-linux-x86-64.so.2') || names.some((f) => /^lib\/ld-linux/.test(f)), `${s}: the dynamic loader`);
		for (const f of ['etc/passwd', 'etc/group', 'etc/nsswitch.conf', 'data', 'tmp']) assert.ok(names.includes(f), `${s}: ${f}`);
	}
	console.log(`image sizes (docker image inspect): ${sizes.join(', ')}`);
});

test('the flags above are the k8s/ manifests\' securityContext and volumes', { skip: skip || (!which('kubectl') && 'kubectl is not installed (it renders k8s/)') }, () => {
	const objs = toObjects(kustomize('k8s/base')).filter((o) => o.kind === 'Service' && o.apiVersion.startsWith('serving.knative.dev'));
	assert.deepEqual(objs.map((o) => o.metadata.name).sort(), SERVICES.filter((s) => s !== 'local-broker').sort());
	for (const o of objs) {
		const spec = o.spec.template.spec;
		const [c] = spec.containers;
		const sc = c.securityContext;
		assert.equal(String(sc.runAsUser), UID, o.metadata.name);
		assert.equal(String(sc.runAsGroup), UID, o.metadata.name);
		assert.equal(sc.readOnlyRootFilesystem, true, o.metadata.name);
		assert.equal(sc.allowPrivilegeEscalation, false, o.metadata.name);
		assert.deepEqual(sc.capabilities.drop, ['ALL'], o.metadata.name);
		const mounts = Object.fromEntries(c.volumeMounts.map((m) => [m.name, m.mountPath]));
		const emptyDirs = spec.volumes.filter((v) => v.emptyDir).map((v) => mounts[v.name]).sort();
		assert.deepEqual(emptyDirs, EMPTYDIRS[o.metadata.name], `${o.metadata.name}: emptyDir volumes`);
		assert.equal(c.ports[0].containerPort, 8080, o.metadata.name);
	}
});

test('the page from the node-server container, in Chromium', { skip: skip || pageSkipReason(), timeout: 120000 }, async () => {
	const browser = await launchChromium();
	try {
		const { text } = await checkPage(browser.context, st.url, { screenshot: 'bookstore-containers.png' });
		assert.equal(Number(query(`SELECT count(*) FROM book_reviews WHERE content = '${text}'`)[0][0]), 1);
	} finally {
		await browser.close();
	}
});

test(`${N} reviews through the containers: each saved once or dead-lettered once, each stored once`, { skip, timeout: 180000 }, async () => {
	const tag = `containers-${crypto.randomBytes(4).toString('hex')}`;
	// The page test's review may still be retried or dead-lettered: the baseline is taken once
	// the broker has nothing pending, so the deltas below count only these reviews.
	let m0;
	await waitFor(async () => {
		m0 = await st.metrics(st.brokerUrl);
		return metric(m0, 'broker_queue_depth') === 0;
	}, { timeoutMs: 30000, intervalMs: 100, what: 'broker_queue_depth 0 before the run' });
	const t0 = Date.now();
	const sent = await postReviews(st, N, { tag, concurrency: 16 });
	const ids = sent.map((s) => s.id);
	assert.equal(new Set(ids).size, N, 'every /add answer names a distinct event id');
	await waitAccounted(st, ids, { timeoutMs: 90000 });
	const per = account(st, ids);
	let saved = 0;
	let dead = 0;
	for (const [id, p] of per) {
		assert.equal(p.duplicate.length, 0, `${id}: no redelivery without a fault`);
		if (p.dead.length) {
			assert.equal(p.saved.length, 0, `${id}: dead-lettered AND saved`);
			assert.equal(p.dead.length, 1, `${id}: ${p.dead.length} dead letters`);
			assert.equal(p.simulated.length, 3, `${id}: dead-lettered after ${p.simulated.length} attempts, not 3`);
			assert.equal(p.dead[0].error.destination.replace(/\/$/, ''), 'http://file-sink:8080', `${id}: knativeerrordest`);
			dead++;
		} else {
			assert.equal(p.saved.length, 1, `${id}: ${p.saved.length} saved lines and no dead letter`);
			saved++;
		}
	}
	console.log(`containers: ${N} reviews accounted for in ${Date.now() - t0} ms: ${saved} saved, ${dead} dead-lettered (bounds ${LOW}..${HIGH})`);
	assert.equal(saved + dead, N);
	assert.ok(dead >= LOW && dead <= HIGH, `${dead} dead letters is outside ${LOW}..${HIGH}`);

	await waitFor(() => Number(query(`SELECT count(*) FROM book_reviews WHERE content LIKE '${tag} review %'`)[0][0]) === N,
		{ timeoutMs: 30000, intervalMs: 200, what: `all ${N} reviews in the database` });
	const rows = query(`SELECT event_id, content FROM book_reviews WHERE content LIKE '${tag} review %'`);
	const byId = new Map(rows.map(([id, content]) => [id, content]));
	assert.equal(rows.length, N);
	assert.equal(byId.size, N, 'each review once');
	for (const s of sent) assert.equal(byId.get(s.id), s.text, `review ${s.i} stored under ${s.id}`);

	const bm = await st.metrics(st.brokerUrl);
	const delta = (name, labels) => metric(bm, name, labels) - metric(m0, name, labels);
	assert.equal(delta('broker_dead_letters_total', '{namespace="bookstore",trigger="file-sink-trigger"}'), dead);
	assert.equal(delta('broker_deliveries_total', '{namespace="bookstore",trigger="db-insert-trigger",code="200"}'), N);
});

test('the Dockerfile builds with BuildKit too (file-sink), and that image runs', { skip, timeout: 600000 }, async (t) => {
	const r = await runAsync(path.join(repoRoot, 'scripts/images.sh'), ['buildkit', 'file-sink'], {
		cwd: repoRoot, timeout: 590000,
	});
	if (r.status === 3) {
		t.skip(r.stderr.trim());
		return;
	}
	assert.equal(r.status, 0, r.stderr);
	const image = r.stdout.trim().split('\n').at(-1);
	const help = docker(['run', '--rm', ...constraints('file-sink'), image, '--help']);
	assert.match(help.stdout + help.stderr, /FAILURE_RATE/);
});

test('docker exec <file-sink> cat /data/events.log: the user\'s kubectl exec step', { skip }, () => {
	for (const s of ['file-sink', 'dead-letter-logger']) {
		const r = docker(['exec', cname(s), 'cat', '/data/events.log']);
		const lines = r.stdout.trim().split('\n');
		assert.ok(lines.length > 0, `${s}: events.log has lines`);
		for (const l of lines) assert.equal(typeof JSON.parse(l).time, 'string', `${s}: a JSON line: ${l}`);
		console.log(`${s}: /data/events.log has ${lines.length} lines, ${r.stdout.length} bytes`);
	}
	const saved = eventsLog('file-sink').filter((l) => l.outcome === 'saved');
	assert.ok(saved.length >= 1 && saved.every((l) => l.event.type === 'new-review-comment'));
});

test('a bad review: in docker exec <file-sink> cat /data/bad-reviews.log, never in the database', { skip, timeout: 60000 }, async () => {
	const text = `containers: what a load of sh1t ${crypto.randomBytes(4).toString('hex')}`;
	const res = await fetch(`${st.url}/add`, {
		method: 'POST',
		headers: { 'Content-Type': 'application/json', 'ce-specversion': '1.0', 'ce-type': 'new-review-comment', 'ce-source': 'bookstore-frontend', 'ce-id': 'bad-1' },
		body: JSON.stringify({ reviewText: text }),
	});
	assert.equal(res.status, 200);
	const { id } = await res.json();
	await waitFor(() => eventsLog('file-sink', '/data/bad-reviews.log').some((l) => l.event?.id === id),
		{ timeoutMs: 30000, intervalMs: 200, what: 'the bad review in /data/bad-reviews.log' });
	const [line] = eventsLog('file-sink', '/data/bad-reviews.log').filter((l) => l.event?.id === id);
	assert.deepEqual([line.review.reviewText, line.review.badwordfilter, line.event.type], [text, 'bad', 'moderated-comment']);
	await waitFor(async () => metric(await st.metrics(st.brokerUrl), 'broker_queue_depth') === 0,
		{ timeoutMs: 30000, intervalMs: 100, what: 'broker_queue_depth 0' });
	assert.equal(Number(query(`SELECT count(*) FROM book_reviews WHERE event_id = '${id}'`)[0][0]), 0, 'not stored');
});
