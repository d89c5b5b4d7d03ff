// What the main thread and the config-loading worker say to each other (structured-cloned, so no functions).
import type { Problem, RawResource, Snapshot } from '../../config/index.js';

/** A resource from elsewhere (the Kubernetes API) without its `locate` function, which cannot cross threads. */
export type PlainResource = Omit<RawResource, 'locate'>;

export interface LoadRequest {
  id: number;
  files: string[];
  extraProblems: Problem[];
  extraResources: PlainResource[];
  /** Hash of the snapshot being served: an equal result is answered without the snapshot (nothing to copy back). */
  currentHash?: string | undefined;
  /** The GatewayClass controllerName Shadowgate answers to (default: config's CONTROLLER_NAME). */
  gatewayController?: string | undefined;
}

export type WorkerAnswer = { id: number } & (
  | { type: 'loaded'; hash: string; problems: Problem[]; resources: Snapshot['resources']; files: string[]; snapshot?: Snapshot }
  | { type: 'failed'; message: string }
);
