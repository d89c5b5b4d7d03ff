// Public surface of admin/.
export { type AdminApiRequest, type AdminSource, AdminServer } from './server.js';
export { totalsFromExposition, type TrafficSource } from './ui-traffic.js';
