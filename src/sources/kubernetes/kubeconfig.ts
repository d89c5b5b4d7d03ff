// Which cluster and credentials to use: `--kubeconfig FILE` and `--context NAME`, else the pod's service account,
// else $KUBECONFIG or ~/.kube/config (kubectl's order). A kubeconfig that cannot work is said so before any request.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ApiProblem } from './health.js';

export interface KubeConfigChoice {
  /** `--kubeconfig FILE`: this file only. */
  file?: string | undefined;
  /** `--context NAME`: this context instead of the file's current-context. */
  context?: string | undefined;
}

/** A kubeconfig named on the command line that cannot be read, or a context it does not have: Shadowgate does not start. */
export class KubeConfigError extends Error {
  override name = 'KubeConfigError';
}

export type Loaded = { kc: KubeConfig; from: string } | { problem: ApiProblem };

/**
 * Loads the kubeconfig. Throws KubeConfigError for what the operator named and got wrong (`--kubeconfig`,
 * `--context`); returns a problem (a readiness reason) when nothing says where the cluster is, where the client
 * library would quietly try http://localhost:8080 forever.
 */
export async function loadKubeConfig(choice: KubeConfigChoice, env: NodeJS.ProcessEnv = process.env, home = homedir()): Promise<Loaded> {
  // Loaded on demand: the library is large, and only `--kubernetes` needs it.
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  let from: string;
  if (choice.file) {
    try {
      kc.loadFromFile(choice.file);
    } catch (err) {
      throw new KubeConfigError(`--kubeconfig ${choice.file}: ${(err as Error).message}`);
    }
    from = choice.file;
  } else if (env.KUBERNETES_SERVICE_HOST && !choice.context) {
    kc.loadFromCluster();
    from = 'the pod’s service account';
  } else {
    // kubectl's rules: every existing file of $KUBECONFIG (merged, first wins), else ~/.kube/config.
    const listed = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
    const files = (listed.length > 0 ? listed : [join(home, '.kube', 'config')]).filter((f) => existsSync(f));
    if (files.length === 0) {
      const where =
        listed.length > 0 ? `none of KUBECONFIG=${env.KUBECONFIG} exists` : `KUBECONFIG is not set and ${join(home, '.kube', 'config')} does not exist`;
      const why = env.KUBERNETES_SERVICE_HOST ? `--context ${choice.context} needs a kubeconfig file, and ${where}` : `not running in a pod, and ${where}`;
      return { problem: { reason: 'no_kubeconfig', message: `no kubeconfig: ${why}; pass --kubeconfig FILE` } };
    }
    try {
      kc.loadFromFile(files[0]!);
      for (const f of files.slice(1)) {
        const more = new KubeConfig();
        more.loadFromFile(f);
        kc.mergeConfig(more);
      }
    } catch (err) {
      throw new KubeConfigError(`kubeconfig ${files.join(delimiter)}: ${(err as Error).message}`);
    }
    from = files.join(delimiter);
  }
  if (choice.context) {
    if (!kc.getContextObject(choice.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new KubeConfigError(`--context ${choice.context}: no such context in ${from} (it has ${known.length > 0 ? known.join(', ') : 'none'})`);
    }
    kc.setCurrentContext(choice.context);
  }
  return { kc, from };
}

/** What makes a kubeconfig unusable before any request is sent; undefined when it may work. */
export function checkKubeConfig(kc: KubeConfig, from: string): ApiProblem | undefined {
  const context = kc.getCurrentContext();
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    return {
      reason: 'bad_kubeconfig',
      message: `kubeconfig ${from}: ${context ? `context "${context}" names no cluster it defines` : 'no current-context (pass --context NAME)'}`,
    };
  }
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    return { reason: 'bad_kubeconfig', message: `kubeconfig ${from}: cluster "${cluster.name}" has no usable server URL ("${cluster.server}")` };
  }
  // @kubernetes/client-node refuses plain HTTP unless the cluster entry sets insecure-skip-tls-verify (its
  // KubeConfig.createAgent); credentials over plain HTTP are readable by anyone on the path.
  if (url.protocol === 'http:' && !cluster.skipTLSVerify) {
    return {
      reason: 'insecure_http',
      message: `kubeconfig ${from}: cluster "${cluster.name}" server ${cluster.server} is plain HTTP; use https, or set insecure-skip-tls-verify: true on that cluster to allow it`,
    };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { reason: 'bad_kubeconfig', message: `kubeconfig ${from}: cluster "${cluster.name}" server ${cluster.server} is neither https nor http` };
  }
  return undefined;
}
