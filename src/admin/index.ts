// Public surface of admin/.
export { type AdminApiRequest, AdminServer, type AdminSource } from './server.js';
export { type TrafficSource, totalsFromExposition } from './ui-traffic.js';
