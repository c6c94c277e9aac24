#!/usr/bin/env node
// The README's benchmark table, from one `make bench` run: reads <build>/bench/results.md
// (what bench/run.mjs wrote) and replaces what stands between the README's
// <!-- bench-table:start --> and <!-- bench-table:end --> markers with one table of every row
// of that run, dated by it. Nothing is typed by hand between the markers.
//
//   node scripts/bench-readme.mjs [results.md] [README.md]    (defaults: build/bench/results.md, README.md)
//   node scripts/bench-readme.mjs --print [results.md]        print the block instead of writing it
import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const print = args[0] === '--print';
if (print) args.shift();
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const resultsFile = args[0] || path.join(root, 'build/bench/results.md');
const readmeFile = args[1] || path.join(root, 'README.md');
const START = '<!-- bench-table:start -->';
const END = '<!-- bench-table:end -->';

/** Whether a measured value meets its target, from the ratio column ("0.84×" = measured ÷ target). */
function verdict(target, ratio, measured) {
	if (/^skipped/.test(measured)) return 'skipped';
	const r = Number.parseFloat(ratio);
	if (!target || Number.isNaN(r)) return '';
	if (/≥/.test(target)) return r >= 1 ? 'met' : '**below**';
	if (/≤/.test(target)) return r <= 1 ? 'met' : '**above**';
	return '';
}

/** The part of the detail column worth a table cell: ratios to the ceiling/upstream, non-2xx. */
function brief(detail) {
	const keep = [];
	for (const re of [/[\d.]+× bare/, /[\d.]+× upstream/, /[\d,]+ non-2xx/, /[\d.]+× of tracing off/])
		if (re.test(detail) && !/^0 non-2xx$/.test(detail.match(re)[0])) keep.push(detail.match(re)[0]);
	return keep.join('; ');
}

function parse(text) {
	const lines = text.split('\n');
	const head = {};
	for (const l of lines.slice(0, 8)) {
		let m = l.match(/^bookstore benchmarks, (\S+)/);
		if (m) head.date = m[1];
		m = l.match(/^machine: (.*?)\s*$/);
		if (m) head.machine = m[1];
		m = l.match(/^run time: (\S+ s)/);
		if (m) head.runtime = m[1];
	}
	const rows = [];
	let group = '';
	for (const l of lines) {
		const g = l.match(/^### (.*)/);
		if (g) group = g[1].replace(/\s*\(.*$/, '').replace(/:.*$/, '');
		if (!l.startsWith('| ') || l.startsWith('| benchmark |')) continue;
		const cells = l.slice(2, -2).split(' | ').map((c) => c.trim());
		if (cells.length < 5) continue;
		const [name, measured, target, ratio, detail] = cells;
		rows.push({ group, name, measured, target, verdict: verdict(target, ratio, measured), note: brief(detail) });
	}
	if (!head.date || rows.length === 0) throw new Error(`${resultsFile}: not a bench/run.mjs results file`);
	return { head, rows };
}

function block({ head, rows }) {
	const when = head.date.replace('T', ' ').replace(/:\d\dZ$/, ' UTC');
	const out = [
		START,
		`One \`make bench\` run, started ${when} and lasting ${head.runtime}, on ${head.machine}; release build. ` +
			'The load generators share the 2 cores with every server, so the figures are a lower bound. ' +
			'This block is written by `node scripts/bench-readme.mjs` from that run\'s ' +
			'`build/bench/results.md`; [docs/benchmarks.md](docs/benchmarks.md) says how each figure is measured.',
		'',
		'| group | measure | measured | target | | vs the ceiling / upstream, non-2xx |',
		'|---|---|---:|---:|---|---|',
	];
	let last = '';
	for (const r of rows) {
		out.push(`| ${r.group === last ? '' : r.group} | ${r.name} | ${r.measured} | ${r.target} | ${r.verdict} | ${r.note} |`);
		last = r.group;
	}
	out.push(END);
	return out.join('\n');
}

const b = block(parse(fs.readFileSync(resultsFile, 'utf8')));
if (print) {
	console.log(b);
} else {
	const readme = fs.readFileSync(readmeFile, 'utf8');
	const a = readme.indexOf(START);
	const e = readme.indexOf(END);
	if (a < 0 || e < a) throw new Error(`${readmeFile}: no ${START} … ${END} block`);
	fs.writeFileSync(readmeFile, readme.slice(0, a) + b + readme.slice(e + END.length));
	console.log(`bench-readme: ${readmeFile} now has the table of ${resultsFile}`);
}
