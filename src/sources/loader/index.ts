// Public surface of sources/loader/: the config loaded off the serving thread, within a budget.
export { ConfigLoader, DEFAULT_LOAD_BUDGET, type LoadBudget, type LoadInput, type LoadOutcome, loadConfig } from './load-config.js';
