// A node --test reporter that writes one line per skipped or todo test (or suite):
//   skip<TAB>file<TAB>name<TAB>reason
// tests/run.sh reads it to count skips and list their reasons. Node's own summary does not
// count a skipped describe() (its tests vanish), so the runner counts these lines instead.
// A skip without a reason gets an empty reason field: tests/run.sh counts that as a failure.
import path from 'node:path';

function reason(v) {
	return typeof v === 'string' ? v.replace(/[\t\n]/g, ' ') : '';
}

export default async function* skipReporter(source) {
	for await (const ev of source) {
		if (ev.type !== 'test:pass' && ev.type !== 'test:fail')
			continue;
		const d = ev.data;
		const kind = d.skip !== undefined && d.skip !== false ? 'skip'
			: d.todo !== undefined && d.todo !== false ? 'todo' : null;
		if (!kind)
			continue;
		const file = d.file ? path.relative(process.cwd(), d.file) : '?';
		const why = reason(kind === 'skip' ? d.skip : d.todo);
		yield `${kind}\t${file}\t${d.name.replace(/[\t\n]/g, ' ')}\t${why}\n`;
	}
}
