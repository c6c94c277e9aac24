// rss.mjs: resident memory of a process (VmRSS in /proc/<pid>/status, KiB), once or sampled.
import fs from 'node:fs';

export function vmRssKiB(pid) {
	try {
		const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
		return m ? Number(m[1]) : NaN;
	} catch {
		return NaN;
	}
}

/**
 * Samples every named pid each intervalMs until stop(); stop() returns { name: max KiB }.
 * pids: { name: pid }.
 */
export function sampleRss(pids, intervalMs = 100) {
	const max = {};
	const take = () => {
		for (const [name, pid] of Object.entries(pids)) {
			const v = vmRssKiB(pid);
			if (Number.isFinite(v)) max[name] = Math.max(max[name] ?? 0, v);
		}
	};
	take();
	const timer = setInterval(take, intervalMs);
	return {
		stop() {
			clearInterval(timer);
			take();
			return max;
		},
	};
}
