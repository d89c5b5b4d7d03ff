// Envoy's default histogram buckets, in milliseconds (Istio's standard metrics use them for every histogram).
export const ENVOY_BUCKETS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
