// Public surface of tls/: terminating TLS on the service ports (Istio Gateway servers, Gateway API HTTPS listeners)
// and the certificate checks `validate` shares with serving.
export {
  certificateSecretProblem,
  EXPIRY_WARNING_MS,
  filesOf,
  type Inspected,
  inspectServerTls,
  type SecretData,
  type SecretLookup,
  type SecretMaterial,
  secretMaterial,
} from './credentials.js';
export { SniIndex } from './sni.js';
export { type SecureProtocol, type Serve, TlsTermination, type TlsTerminationOptions } from './termination.js';
