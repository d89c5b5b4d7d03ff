// Warnings about the cluster's setup also become Kubernetes Events on the object they concern, so
// `kubectl describe service nginx` (or `configmap shadowgate`) shows them where people look. Each distinct
// warning is posted once.
import type { Problem } from '../../config/index.js';
import type { KubeHttp } from './http.js';

/** Problem codes worth an Event, and the Event's reason. */
const REASONS: Record<string, string> = {
  'takeover-selector': 'ShadowgateTakeoverSelector',
  'empty-backends': 'ShadowgateEmptyBackends',
  'settings-rejected': 'ShadowgateConfigRejected',
};

/** The kinds Events are posted on, and their apiVersion. */
const INVOLVED: Record<string, string> = { Service: 'v1', ConfigMap: 'v1', ShadowgateConfig: 'shadowgate.dev/v1alpha1' };

export class WarningEvents {
  /** Warnings already posted; a warning that goes away and comes back is posted again. */
  private posted = new Set<string>();

  constructor(
    private readonly api: KubeHttp,
    private readonly log?: (line: string) => void,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Posts an Event for each new warning among `problems`; never throws (an Event is a courtesy). */
  report(problems: readonly Problem[]): Promise<void> {
    const current = new Set<string>();
    const posts: Promise<unknown>[] = [];
    for (const p of problems) {
      const reason = REASONS[p.code];
      const m = /^(\w+) ([^/]+)\/(.+)$/.exec(p.resource ?? '');
      if (!reason || !m || !INVOLVED[m[1]!]) continue;
      const key = `${p.code}|${p.resource}|${p.message}`;
      current.add(key);
      if (this.posted.has(key)) continue;
      const [, kind, namespace, name] = m as unknown as [string, string, string, string];
      const at = this.now().toISOString();
      posts.push(
        this.api
          .postJson(
            `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`,
            {
              apiVersion: 'v1',
              kind: 'Event',
              metadata: { generateName: `${name}.shadowgate-`, namespace },
              involvedObject: { apiVersion: INVOLVED[kind], kind, namespace, name },
              reason,
              message: p.message,
              type: 'Warning',
              source: { component: 'shadowgate' },
              reportingComponent: 'shadowgate',
              firstTimestamp: at,
              lastTimestamp: at,
              count: 1,
            },
            5_000,
          )
          .catch((err: Error) => this.log?.(`kubernetes: could not post an Event for ${p.resource}: ${err.message}`)),
      );
    }
    this.posted = new Set([...this.posted].filter((k) => current.has(k)));
    for (const k of current) this.posted.add(k);
    return Promise.all(posts).then(() => {});
  }
}
