// Public surface of demo/.
export { type DemoOptions, runDemo } from './demo.js';
