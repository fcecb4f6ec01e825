import fc from 'fast-check';

/**
 * Property tests read their run count from PROPERTY_RUNS (default 100, what `npm test` runs);
 * `PROPERTY_RUNS=20000 npm run test:long` is the long run.
 */
const runs = Number(process.env.PROPERTY_RUNS ?? 100);
fc.configureGlobal({ numRuns: Number.isSafeInteger(runs) && runs > 0 ? runs : 100 });
