// images.mjs: the size of each image `make images` builds (scripts/images.sh list gives the
// exact content tags of this checkout), and how much of it is above the Debian base image.
// Skipped with the reason when Docker or the images are missing (run `make images` first).
import { run, repoRoot } from './util.mjs';

const TARGET_MB = 30;
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

async function imageSize(ref) {
	const r = await run('docker', ['image', 'inspect', '--format', '{{.Size}}', ref]).catch(() => null);
	return r && r.code === 0 ? Number(r.stdout.trim()) : NaN;
}

export async function benchImages(ctx) {
	const g = ctx.report.group('Images (make images; docker image inspect)');
	const list = await run('scripts/images.sh', ['list'], { cwd: repoRoot }).catch((e) => ({ code: 1, stderr: e.message }));
	if (list.code !== 0) {
		g.skip('service images', `scripts/images.sh list failed: ${list.stderr.trim().split('\n').at(-1)}`);
		return;
	}
	const refs = list.stdout.split('\n').filter(Boolean);
	const base = process.env.DEBIAN_IMAGE || 'bookstore.local/debian:bookworm-minbase'; // scripts/images.sh's default
	const baseSize = await imageSize(base);
	let any = false;
	for (const ref of refs) {
		let size = await imageSize(ref);
		let note = '';
		if (!Number.isFinite(size)) {
			// This checkout's content tag is not built; :local is the last `make images` here.
			const local = ref.replace(/:[^:]+$/, ':local');
			size = await imageSize(local);
			if (!Number.isFinite(size)) {
				g.skip(ref, 'not built (run make images)');
				continue;
			}
			note = `; shown: ${local} (this checkout's tag is not built)`;
		}
		any = true;
		const isPg = ref.includes('postgresql');
		const above = Number.isFinite(baseSize) ? size - baseSize : NaN;
		g.row(ref, mb(size), {
			target: isPg ? '' : `≤ ${TARGET_MB} MB`,
			ratio: isPg ? NaN : size / (TARGET_MB * 1e6),
			detail: (Number.isFinite(above) ? `${mb(above)} above ${base} (${mb(baseSize)})` : `${base} is not present locally`) + note,
		});
	}
	if (any) g.note('Sizes as Docker reports them (uncompressed layers). Target: ≤ 30 MB per service image (issue 14), for example a distroless-style final stage holding only the binary and the shared objects it loads.');
}
