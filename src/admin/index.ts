// Public surface of admin/.
export { AdminAccess, type AdminAccessOptions } from './access.js';
export { type AdminApiRequest, AdminServer, type AdminSource } from './server.js';
export { type TrafficSource, totalsFromExposition } from './ui-traffic.js';
