// `npm run bench`: every benchmark, each figure reported with what it measured.
import { benchCompareCorpus } from './compare-corpus.js';
import { benchConfigLoad } from './config-load.js';
import { benchMetricsRecord } from './metrics-record.js';

const results = [...benchConfigLoad(), ...benchMetricsRecord(), ...benchCompareCorpus()];
for (const r of results) console.log(`${r.name}: ${r.ms.toFixed(1)} ms (${r.detail})`);
