import { loadSnapshot } from './dist/src/config/index.js';
