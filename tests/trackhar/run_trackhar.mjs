// Runs TrackHAR on one HAR file and prints, per HAR entry, what it found (null: no adapter handled it).
import { readFile } from 'fs/promises';
import { process as processHar } from 'trackhar';
const har = JSON.parse(await readFile(process.argv[2], 'utf-8'));
const data = await processHar(har, {});
console.log(JSON.stringify(data.map((r) => r === undefined ? null : r.map((t) => (
    { adapter: t.adapter, property: t.property, context: t.context, path: t.path, value: t.value })))));
