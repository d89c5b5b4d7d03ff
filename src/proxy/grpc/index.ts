// Public surface of proxy/grpc/: what the data path knows about gRPC.
export { encodeMessage, GrpcStatus, grpcOutcome, httpToGrpcStatus, isGrpc, splitTrailersOnly } from './status.js';
export { parseGrpcTimeout } from './timeout.js';
