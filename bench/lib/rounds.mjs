// rounds.mjs: every throughput figure is the median of ROUNDS wrk runs (BENCH_ROUNDS, default
// 3), the systems alternated: round r runs the cases in order, the next one in reverse, so a
// slow phase of a loaded machine does not fall on one system only.
//
//   const res = await alternate([{ key: 'bare', run: () => wrk({...}) }, ...]);
//   res.get('bare') → { runs: [wrk results], ok: { med, min, max }, p99: { med, ... }, non2xx, errors }
//   fmtRate(res.get('bare')) → "98,765 req/s (95,000–99,000)"
import { fmtInt } from './util.mjs';

export const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS || 3));

function stats(values) {
	const s = [...values].filter(Number.isFinite).sort((a, b) => a - b);
	return { med: s.length ? s[Math.floor((s.length - 1) / 2)] : NaN, min: s[0], max: s.at(-1) };
}

/** The median of the finite values (the lower one of the middle two), NaN for none. */
export const median = (values) => stats(values).med;

/** "median unit (min–max)" of the values, each formatted with fmt. */
export function fmtSpread(values, fmt, unit = '') {
	const s = stats(values);
	return `${fmt(s.med)}${unit ? ` ${unit}` : ''} (${fmt(s.min)}–${fmt(s.max)})`;
}

/** Runs the cases ROUNDS times, alternated; a failed run is recorded as error and skipped. */
export async function alternate(cases, rounds = ROUNDS) {
	const runs = new Map(cases.map((c) => [c.key, []]));
	const errors = new Map();
	for (let r = 0; r < rounds; r++) {
		for (const c of r % 2 ? [...cases].reverse() : cases) {
			try {
				runs.get(c.key).push(await c.run());
			} catch (e) {
				errors.set(c.key, e.message.split('\n')[0]);
			}
		}
	}
	const out = new Map();
	for (const c of cases) {
		const rs = runs.get(c.key);
		out.set(c.key, rs.length ? {
			runs: rs, ok: stats(rs.map((x) => x.okPerSec)), p99: stats(rs.map((x) => x.p99Ms)),
			p50: stats(rs.map((x) => x.p50Ms)), non2xx: rs.reduce((a, x) => a + x.non2xx, 0),
			requests: rs.reduce((a, x) => a + x.requests, 0), errors: rs.reduce((a, x) => a + x.errors, 0),
			cmd: rs[0].cmd,
		} : { error: errors.get(c.key) || 'no run' });
	}
	return out;
}

export function fmtRate(s, unit = 'req/s') {
	return `${fmtInt(s.ok.med)} ${unit} (${fmtInt(s.ok.min)}–${fmtInt(s.ok.max)})`;
}

/** "x.xx× bare, y.yy× upstream" for one result, against the others' medians when present. */
export function fmtVs(s, refs) {
	return Object.entries(refs).filter(([, r]) => r && r.ok && r.ok.med > 0)
		.map(([name, r]) => `${(s.ok.med / r.ok.med).toFixed(2)}× ${name}`).join(', ');
}
