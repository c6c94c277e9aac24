// The README keeps its promises: its table of environment variables lists every setting that
// any service's --help prints (the config tables in services/*/main.c), with the same default,
// and it gives the two commands for a fresh machine that .ci/run runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { binPath, repoRoot } from './lib/proc.mjs';

const services = ['node-server', 'db-service', 'file-sink', 'dead-letter-logger', 'local-broker',
	'bad-word-filter', 'sentiment-analysis'];
const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');

function readmeTable() {
	const rows = new Map();
	for (const line of readme.split('\n')) {
		const m = /^\| `([A-Z][A-Z0-9_]*)` \| ([^|]+) \| `([^`]*)` \|/.exec(line);
		if (m)
			rows.set(m[1], { readBy: m[2].trim(), def: m[3] });
	}
	return rows;
}

test('every setting a service reads is in the README table, with its default', () => {
	const rows = readmeTable();
	assert.ok(rows.size > 10, 'the README has the table');
	for (const svc of services) {
		const help = execFileSync(binPath(svc), ['--help'], { encoding: 'utf8' });
		for (const line of help.split('\n')) {
			const [name, def] = line.split(/\s+/);
			if (!name || name === 'VARIABLE')
				continue;
			const row = rows.get(name);
			assert.ok(row, `${svc} reads ${name}, which the README does not list`);
			assert.ok(row.readBy === 'every service' || row.readBy.includes(svc),
				`README: ${name} is not marked as read by ${svc}`);
			const want = def === '-' ? '(unset)' : def;
			assert.ok(row.def.split(' / ')[0] === want || row.def.includes(`${want} (${svc})`),
				`README: default of ${name} for ${svc} should be ${want}, not ${row.def}`);
		}
	}
});

test('the README gives the two commands for a fresh machine, and CI runs the test one', () => {
	assert.match(readme, /make deps && make run/);
	const m = /\| test it \| `([^`]+)` \|/.exec(readme);
	assert.ok(m, 'the README has a test command');
	const ci = fs.readFileSync(path.join(repoRoot, '.ci/run'), 'utf8');
	assert.ok(ci.includes(m[1]), `.ci/run runs "${m[1]}"`);
});
