#!/usr/bin/env node
// dupcheck.mjs: fails when two places in our C share a run of identical lines.
//
//   node scripts/dupcheck.mjs [--min-lines N] [dir...]     (default: 5 lines over common/src,
//                                                           common/include and services)
//
// Lines are normalised before they are compared: leading and trailing white space is trimmed,
// comments are removed, and lines left empty, holding only braces and punctuation ("}", "};",
// "{"), or only an #include are skipped. Two runs of at least N consecutive normalised lines
// that are identical, in two files or twice in one file (not overlapping), make one row,
// printed as "file:a-b ~ file:c-d" with the original line numbers; the exit status is then 1.
// Only .c and .h files count (not tests, not *.proto, not data). Plain node, no packages: it
// runs where `duplicates` (the shape-aware tool, see tests/check.sh) is not installed.
import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
let minLines = 5;
const roots = [];
for (let i = 0; i < args.length; i++) {
	if (args[i] === '--min-lines') minLines = Number(args[++i]);
	else roots.push(args[i]);
}
if (!Number.isInteger(minLines) || minLines < 2) {
	console.error('dupcheck: --min-lines takes a whole number >= 2');
	process.exit(2);
}
if (roots.length === 0) roots.push('common/src', 'common/include', 'services');

function walk(dir, out) {
	for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
		const p = path.join(dir, e.name);
		if (e.isDirectory()) walk(p, out);
		else if (e.isFile() && /\.[ch]$/.test(e.name)) out.push(p);
	}
	return out;
}

// Removes /* */ and // comments (outside string and character literals); keeps line breaks.
function stripComments(text) {
	let out = '';
	let i = 0;
	let inBlock = false;
	while (i < text.length) {
		const c = text[i];
		const d = text[i + 1];
		if (inBlock) {
			if (c === '*' && d === '/') {
				inBlock = false;
				i += 2;
			} else {
				if (c === '\n') out += c;
				i++;
			}
		} else if (c === '/' && d === '*') {
			inBlock = true;
			i += 2;
		} else if (c === '/' && d === '/') {
			while (i < text.length && text[i] !== '\n') i++;
		} else if (c === '"' || c === "'") {
			let j = i + 1;
			while (j < text.length && text[j] !== c && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
			out += text.slice(i, j + 1);
			i = j + 1;
		} else {
			out += c;
			i++;
		}
	}
	return out;
}

// The normalised lines of a file: [{ text, line }] with 1-based original line numbers.
function normalise(file) {
	const lines = stripComments(fs.readFileSync(file, 'utf8')).split('\n');
	const kept = [];
	lines.forEach((raw, i) => {
		const t = raw.trim().replace(/\s+/g, ' ');
		if (t === '' || /^[{}()[\];,]+$/.test(t) || /^#\s*include\b/.test(t)) return;
		kept.push({ text: t, line: i + 1 });
	});
	return kept;
}

const files = roots.flatMap((r) => (fs.existsSync(r) ? walk(r, []) : [])).sort();
const norm = new Map(files.map((f) => [f, normalise(f)]));

// Every window of minLines normalised lines, by its text.
const windows = new Map();
for (const [f, ls] of norm) {
	for (let i = 0; i + minLines <= ls.length; i++) {
		const key = ls
			.slice(i, i + minLines)
			.map((l) => l.text)
			.join('\n');
		let list = windows.get(key);
		if (!list) windows.set(key, (list = []));
		list.push({ f, i });
	}
}

const same = (a, i, b, j) => i >= 0 && j >= 0 && i < a.length && j < b.length && a[i].text === b[j].text;
const rows = [];
for (const list of windows.values()) {
	for (let x = 0; x < list.length; x++) {
		for (let y = x + 1; y < list.length; y++) {
			const A = list[x];
			const B = list[y];
			const a = norm.get(A.f);
			const b = norm.get(B.f);
			if (same(a, A.i - 1, b, B.i - 1)) continue; // not the start of the run
			let n = minLines;
			while (same(a, A.i + n, b, B.i + n)) n++;
			if (A.f === B.f && B.i < A.i + n) continue; // a run overlapping itself
			rows.push({
				n,
				text: `${A.f}:${a[A.i].line}-${a[A.i + n - 1].line} ~ ${B.f}:${b[B.i].line}-${b[B.i + n - 1].line}`,
			});
		}
	}
}
rows.sort((p, q) => q.n - p.n || (p.text < q.text ? -1 : 1));
for (const r of rows) console.log(`${r.text} (${r.n} lines)`);
if (rows.length) {
	console.log(`dupcheck: ${rows.length} repeated runs of ${minLines}+ lines in ${files.length} files`);
	process.exit(1);
}
console.log(`dupcheck: no repeated run of ${minLines}+ lines in ${files.length} files`);
