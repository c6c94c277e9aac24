// images.mjs: the size of each image `make images` builds (scripts/images.sh list gives the
// exact content tags of this checkout) against issue 14's target of 30 MB per service image, how
// much of it is the runtime layer all service images share, and what all seven take on one node
// (each distinct layer counted once). Skipped with the reason when Docker or the images are
// missing (run `make images` first).
import { run, repoRoot } from './util.mjs';

const TARGET_MB = 30;
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

async function docker(args) {
	const r = await run('docker', args).catch(() => null);
	return r && r.code === 0 ? r.stdout.trim() : null;
}

async function imageSize(ref) {
	const out = await docker(['image', 'inspect', '--format', '{{.Size}}', ref]);
	return out === null ? NaN : Number(out);
}

// The image's layers, oldest first, each { digest, bytes }: the diff IDs of `docker image
// inspect` paired with the non-empty steps of `docker history`. null when they do not pair up
// (a step that made an empty layer, as BuildKit's WORKDIR does): then no sharing is reported.
async function layers(ref) {
	const ids = await docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', ref]);
	const hist = await docker(['history', '--human=false', '--no-trunc', '--format', '{{.Size}}', ref]);
	if (ids === null || hist === null) return null;
	const digests = JSON.parse(ids);
	const sizes = hist.split('\n').map(Number).filter((n) => n > 0).reverse();
	if (sizes.length !== digests.length) return null;
	return digests.map((digest, i) => ({ digest, bytes: sizes[i] }));
}

export async function benchImages(ctx) {
	const g = ctx.report.group('Images (make images; docker image inspect)');
	const list = await run('scripts/images.sh', ['list'], { cwd: repoRoot }).catch((e) => ({ code: 1, stderr: e.message }));
	if (list.code !== 0) {
		g.skip('service images', `scripts/images.sh list failed: ${list.stderr.trim().split('\n').at(-1)}`);
		return;
	}
	const refs = list.stdout.split('\n').filter(Boolean);
	const shown = [];
	let pg = null;
	for (const ref of refs) {
		let size = await imageSize(ref);
		let note = '';
		let used = ref;
		if (!Number.isFinite(size)) {
			// This checkout's content tag is not built; :local is the last `make images` here.
			used = ref.replace(/:[^:]+$/, ':local');
			size = await imageSize(used);
			if (!Number.isFinite(size)) {
				g.skip(ref, 'not built (run make images)');
				continue;
			}
			note = `; shown: ${used} (this checkout's tag is not built)`;
		}
		const isPg = ref.includes('postgresql');
		if (!isPg) shown.push({ ref, used, size, note, layers: await layers(used) });
		else pg = { ref, size, note };
	}
	// The layers every service image has: the shared runtime (loader, shared objects, /etc).
	const all = shown.filter((s) => s.layers);
	const common = all.length === shown.length && all.length > 1
		? all[0].layers.filter((l) => all.every((s) => s.layers.some((m) => m.digest === l.digest))) : [];
	const commonBytes = common.reduce((n, l) => n + l.bytes, 0);
	for (const s of shown) {
		g.row(s.ref, mb(s.size), {
			target: `≤ ${TARGET_MB} MB`,
			ratio: s.size / (TARGET_MB * 1e6),
			detail: (common.length ? `${mb(commonBytes)} shared runtime layer + ${mb(s.size - commonBytes)} its own` : '') + s.note,
		});
	}
	if (common.length) {
		const distinct = new Map(all.flatMap((s) => s.layers.map((l) => [l.digest, l.bytes])));
		const node = [...distinct.values()].reduce((n, b) => n + b, 0);
		g.row(`all ${shown.length} service images on one node`, mb(node), {
			detail: `each distinct layer once (sum of the image sizes: ${mb(shown.reduce((n, s) => n + s.size, 0))})`,
		});
	}
	if (pg) g.row(pg.ref, mb(pg.size), { detail: `test only (Debian's postgresql-15), no target${pg.note}` });
	if (shown.length) g.note(`Sizes as Docker reports them (uncompressed layers, MB = 10^6 bytes). Target: ≤ ${TARGET_MB} MB per service image (issue 14). The final stage is distroless (FROM scratch): the stripped binary and its data, the dynamic loader and the shared objects of the seven binaries' ldd closure (one layer, the same in every image), /etc/passwd, /etc/group, /etc/nsswitch.conf, /data, /tmp, and cat in the two sinks; no shell, no package manager.`);
}
