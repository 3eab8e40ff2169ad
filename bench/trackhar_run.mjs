// Runs tweasel's TrackHAR (npm `trackhar`) on one HAR, as bench/traffic.py's reference:
//   node bench/trackhar_run.mjs MODULE_DIR HAR [INDICATORS.json]
// MODULE_DIR is the node_modules folder trackhar was installed into (outside the repository).
// Prints one JSON line: seconds (parse + process), requests, results with a finding, peak RSS in bytes.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const [moduleDir, harPath, indicatorsPath] = process.argv.slice(2);
const trackhar = await import(pathToFileURL(join(moduleDir, 'trackhar', 'dist', 'index.js')).href);
const indicatorValues = indicatorsPath ? JSON.parse(readFileSync(indicatorsPath, 'utf8')) : undefined;
const start = process.hrtime.bigint();
const har = JSON.parse(readFileSync(harPath, 'utf8'));
const results = await trackhar.process(har, { indicatorValues });
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
console.log(JSON.stringify({
    seconds,
    requests: har.log.entries.length,
    found: results.filter((r) => r !== undefined).length,
    peak_rss: process.resourceUsage().maxRSS * 1024,
}));
