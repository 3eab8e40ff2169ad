import { adapters } from 'trackhar';
console.log(JSON.stringify(adapters.map(a => ({slug: a.tracker.slug + '/' + a.slug, name: a.name, tracker: a.tracker.name, urls: a.endpointUrls.map(u => u instanceof RegExp ? {re: u.source} : u), match: a.match ? a.match.toString() : null, steps: a.decodingSteps, paths: a.containedDataPaths})), null, 0));
