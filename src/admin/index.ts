// Public surface of admin/.
export { type AdminSource, AdminServer } from './server.js';
export { totalsFromExposition, type TrafficSource } from './ui-traffic.js';
