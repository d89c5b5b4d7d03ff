// Public surface of admin/.
export { type AdminSource, AdminServer } from './server.js';
