// Flagger's `checksum` names a revision of a canary (issue 13): a hash of the Canary's `status.lastAppliedSpec`
// and tracked ConfigMaps/Secrets (fluxcd/flagger pkg/controller/webhook.go, canaryChecksum), so a new checksum is
// a new version of the canary's code or config. The gate must judge the comparison run of *that* version, never
// an earlier revision's run that happens to still be open. This book keeps which runs each checksum claimed.
//
// The rule (docs/rollouts.md, "Which run a checksum names"):
// - A canary is `namespace/name`; each checksum asked for it is a revision, first seen at the first gate call.
// - A run belongs to at most one revision. A gate call with checksum C claims for C every run of the canary that no
//   revision owns yet and that is open now or started at or after C was first seen.
// - C is judged on the runs it owns only. A run owned by another checksum is stale for C; with none of its own,
//   the answer is INCONCLUSIVE until a run of C has started (new canary pods, a changed mirror, or POST /api/runs).
// Replicas share what they claimed through /metrics (`shadowgate_gate_checksum_run`), which a gate with
// --prometheus reads back (learn), so a replica that never saw the old checksum still knows its runs.

export interface SeenRun {
  id: string;
  /** Still comparing (no end). */
  open: boolean;
  /** When it started (ms), when known (the fleet's runs only know they were seen in the window). */
  startedAt?: number;
}

export interface Claim {
  namespace: string;
  canary: string;
  checksum: string;
  run: string;
  /** When the run was claimed (ms since the epoch). */
  at: number;
}

export interface RevisionAnswer {
  /** Runs the asked checksum owns (judge these). */
  runs: string[];
  /** Runs of this canary owned by another checksum: stale for the one asked. */
  stale: Array<{ run: string; checksum: string }>;
  /** Runs nobody owns that ended before the asked checksum was first seen. */
  unclaimed: string[];
  /** When this replica (or, learned, any replica) first saw the checksum (ms). */
  firstSeen: number;
  /** The checksum asked before this one for the same canary, if any. */
  previous: string | undefined;
}

interface Revision {
  checksum: string;
  firstSeen: number;
  /** run id → when claimed */
  runs: Map<string, number>;
}

export interface RevisionLimits {
  canaries: number;
  revisionsPerCanary: number;
  runsPerRevision: number;
}

/** Bounds so a caller inventing names and checksums cannot grow the book (or the exported series) without end. */
export const DEFAULT_REVISION_LIMITS: RevisionLimits = { canaries: 256, revisionsPerCanary: 8, runsPerRevision: 32 };

export interface ClaimSink {
  claimed(c: Claim): void;
  forgotten(c: Omit<Claim, 'at'>): void;
}

export class RevisionBook {
  /** `namespace/name` → its revisions, oldest first seen first; Map order is least recently asked first. */
  private readonly canaries = new Map<string, { namespace: string; canary: string; revisions: Revision[] }>();

  constructor(
    private readonly sink?: ClaimSink,
    private readonly limits: RevisionLimits = DEFAULT_REVISION_LIMITS,
  ) {}

  private entry(namespace: string, canary: string) {
    const key = `${namespace}/${canary}`;
    let e = this.canaries.get(key);
    if (e) this.canaries.delete(key);
    else e = { namespace, canary, revisions: [] };
    this.canaries.set(key, e);
    while (this.canaries.size > this.limits.canaries) {
      const [oldKey, old] = this.canaries.entries().next().value as [string, typeof e];
      this.canaries.delete(oldKey);
      for (const r of old.revisions) this.forget(old, r);
    }
    return e;
  }

  private forget(e: { namespace: string; canary: string }, r: Revision): void {
    for (const run of r.runs.keys()) this.sink?.forgotten({ namespace: e.namespace, canary: e.canary, checksum: r.checksum, run });
  }

  private revision(e: { namespace: string; canary: string; revisions: Revision[] }, checksum: string, firstSeen: number): Revision {
    let r = e.revisions.find((x) => x.checksum === checksum);
    if (r) {
      if (firstSeen < r.firstSeen) r.firstSeen = firstSeen;
      return r;
    }
    r = { checksum, firstSeen, runs: new Map() };
    e.revisions.push(r);
    e.revisions.sort((a, b) => a.firstSeen - b.firstSeen);
    while (e.revisions.length > this.limits.revisionsPerCanary) {
      const dropped = e.revisions.shift()!;
      this.forget(e, dropped);
    }
    return r;
  }

  private claim(e: { namespace: string; canary: string }, r: Revision, run: string, at: number): void {
    if (r.runs.size >= this.limits.runsPerRevision) {
      const oldest = r.runs.keys().next().value as string;
      r.runs.delete(oldest);
      this.sink?.forgotten({ namespace: e.namespace, canary: e.canary, checksum: r.checksum, run: oldest });
    }
    r.runs.set(run, at);
    this.sink?.claimed({ namespace: e.namespace, canary: e.canary, checksum: r.checksum, run, at });
  }

  /**
   * Claims other replicas made (read from Prometheus). The earlier claim of a run wins, as it would have had it
   * been made here; a checksum's first sight is the earliest any replica had.
   */
  learn(namespace: string, canary: string, claims: ReadonlyArray<Pick<Claim, 'checksum' | 'run' | 'at'>>): void {
    const e = this.entry(namespace, canary);
    for (const c of [...claims].sort((a, b) => a.at - b.at)) {
      const rev = this.revision(e, c.checksum, c.at);
      const owner = e.revisions.find((x) => x.runs.has(c.run));
      if (owner === rev) continue;
      if (owner) {
        if ((owner.runs.get(c.run) ?? 0) <= c.at) continue;
        owner.runs.delete(c.run);
        this.sink?.forgotten({ namespace, canary, checksum: owner.checksum, run: c.run });
      }
      this.claim(e, rev, c.run, c.at);
    }
  }

  /** A gate call for `namespace/canary` with `checksum`, seeing the canary's runs: which of them it judges. */
  resolve(namespace: string, canary: string, checksum: string, runs: readonly SeenRun[], now: number): RevisionAnswer {
    const e = this.entry(namespace, canary);
    const known = e.revisions.find((x) => x.checksum === checksum);
    const previous = [...e.revisions]
      .filter((x) => x.checksum !== checksum)
      .sort((a, b) => a.firstSeen - b.firstSeen)
      .at(-1)?.checksum;
    const rev = known ?? this.revision(e, checksum, now);
    const answer: RevisionAnswer = { runs: [], stale: [], unclaimed: [], firstSeen: rev.firstSeen, previous };
    for (const run of runs) {
      let owner = e.revisions.find((x) => x.runs.has(run.id));
      if (!owner && (run.open || (run.startedAt !== undefined && run.startedAt >= rev.firstSeen))) {
        this.claim(e, rev, run.id, now);
        owner = rev;
      }
      if (owner === rev) answer.runs.push(run.id);
      else if (owner) answer.stale.push({ run: run.id, checksum: owner.checksum });
      else answer.unclaimed.push(run.id);
    }
    return answer;
  }

  /** Every claim held, for /metrics. */
  claims(): Claim[] {
    const out: Claim[] = [];
    for (const e of this.canaries.values())
      for (const r of e.revisions) for (const [run, at] of r.runs) out.push({ namespace: e.namespace, canary: e.canary, checksum: r.checksum, run, at });
    return out;
  }
}
