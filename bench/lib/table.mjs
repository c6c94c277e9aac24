// table.mjs: the results as text tables (terminal) and Markdown (build/bench/results.md).
//
//   const rep = new Report();
//   const g = rep.group('Bookstore (node-server, db-service)', ['notes...']);
//   g.row('GET /comments', '15,901 req/s', { target: '≥ 15,000 req/s', ratio: 1.06 });
//   g.skip('POST /add', 'why it did not run');
// The ratio is always measured ÷ target: for "≥" targets above 1 is better, for "≤" targets
// below 1 is better (the target column says which).
export class Report {
	constructor() {
		this.groups = [];
		this.header = [];
	}

	group(title, notes = []) {
		const g = {
			title, notes: [...notes], rows: [],
			row(name, measured, { target = '', ratio = NaN, detail = '' } = {}) {
				g.rows.push({ name, measured, target, ratio: fmtRatio(ratio), detail });
			},
			skip(name, why, target = '') {
				g.rows.push({ name, measured: 'skipped', target, ratio: '', detail: why });
			},
			note(text) { g.notes.push(text); },
		};
		this.groups.push(g);
		return g;
	}

	text() {
		const out = [...this.header, ''];
		for (const g of this.groups) {
			out.push(`== ${g.title}`);
			const rows = [['benchmark', 'measured', 'target', 'ratio', 'detail'],
				...g.rows.map((r) => [r.name, r.measured, r.target, r.ratio, r.detail])];
			const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length)));
			for (const r of rows)
				out.push(`  ${r.slice(0, 4).map((c, i) => c.padEnd(w[i])).join('  ')}  ${r[4]}`.trimEnd());
			for (const n of g.notes) out.push(`  note: ${n}`);
			out.push('');
		}
		return out.join('\n');
	}

	markdown() {
		const out = [...this.header.map((h) => `${h}  `), ''];
		const esc = (s) => s.replace(/\|/g, '\\|');
		for (const g of this.groups) {
			out.push(`### ${g.title}`, '', '| benchmark | measured | target | ratio | detail |',
				'|---|---:|---:|---:|---|');
			for (const r of g.rows)
				out.push(`| ${[r.name, r.measured, r.target, r.ratio, r.detail].map(esc).join(' | ')} |`);
			out.push('');
			for (const n of g.notes) out.push(`- ${n}`);
			if (g.notes.length) out.push('');
		}
		return out.join('\n');
	}
}

function fmtRatio(r) {
	return Number.isFinite(r) ? `${r.toFixed(2)}×` : '';
}
