/**
 * What the workflows report while they run, for whoever watches: the daemon's status page and
 * metrics, nothing for the CLI. Calls must be cheap and never throw: a watcher must not be able to
 * break a pass.
 */
export interface PassOutcome {
  ok: boolean;
  /** One line per problem, naming the branch and request it concerns. */
  errors: string[];
  summary?: Record<string, number>;
}

export interface RequestReport {
  branch: string;
  request: string;
  /** The state status.yaml says (previewed, invalid, refused, executing, partial, executed, …). */
  state: string;
  commit?: string;
  message?: string;
}

export interface ProblemReport {
  branch?: string;
  request?: string;
  message: string;
}

export interface Observer {
  passStarted(): void;
  passFinished(outcome: PassOutcome): void;
  /** A problem during the pass; the pass is reported failed at its end. */
  problem(p: ProblemReport): void;
  requestState(r: RequestReport): void;
  /** A merged request waits for execution in this pass. */
  executionQueued(request: string): void;
  /** The first write is about to happen; `total` (entries) when already known. */
  executionStarted(request: string, total?: number): void;
  executionProgress(request: string, done: number, total: number): void;
  executionFinished(request: string, result: { state: string; counts: Record<string, number> }): void;
}

export const noopObserver: Observer = {
  passStarted() {},
  passFinished() {},
  problem() {},
  requestState() {},
  executionQueued() {},
  executionStarted() {},
  executionProgress() {},
  executionFinished() {},
};

/** What the status page and /api/status show: request names, IDs and counts only, never values. */
export interface StatusSnapshot {
  generatedAt: string;
  /** Branch name → its requests, sorted by name. */
  branches: Array<{
    name: string;
    requests: Array<{
      name: string;
      state: string;
      commit?: string;
      message?: string;
      updatedAt: string;
      reportUrl?: string;
    }>;
  }>;
  queue: Array<{ request: string; queuedAt: string }>;
  running?: {
    request: string;
    startedAt: string;
    done: number;
    total?: number;
    /** Entries per second over the last few seconds. */
    rate?: number;
    etaSeconds?: number;
  };
  /** Newest first. */
  passes: Array<{
    startedAt: string;
    finishedAt?: string;
    durationMs?: number;
    ok?: boolean;
    errors: string[];
    summary?: Record<string, number>;
  }>;
  /** Last executions finished, newest first. */
  executions: Array<{ request: string; state: string; counts: Record<string, number>; finishedAt: string }>;
}
