/** A commit pushed to a branch, and the commit it was made on. */
export interface Pushed {
  commit: string;
  onto: string;
}

/** What the workflows need from the config repository; adapters/git implements it on git. */
export interface RepoPort {
  fetch(): Promise<void>;
  branches(): Promise<Array<{ name: string; commit: string }>>;
  /** A clean working tree of origin/<branch>. */
  checkout(branch: string): Promise<{ dir: string; commit: string }>;
  /** Paths the head adds or changes relative to its merge base with base. */
  changedFiles(base: string, head: string): Promise<string[]>;
  /**
   * Commits the files (paths under reports/ only; bytes for plan.jsonl.gz; null deletes) and pushes; retried on top of the
   * branch after a fetch when it moved (reports only: nobody else's work is touched). `onto`:
   * the commit it was made on (the branch as checked out, or as it had moved to); for an
   * unchanged report, the commit the checkout was reset to before finding nothing to commit.
   * Either way the checkout's tree is now that commit's.
   */
  commitAndPush(
    branch: string,
    files: Record<string, string | Uint8Array | null>,
    message: string,
  ): Promise<Pushed | { unchanged: true; onto?: string }>;
  /**
   * Compare-and-swap on the branch: commits the files as a child of exactly `onto` and pushes
   * only if the branch still points at `onto`. `moved` when it does not (someone pushed, maybe a
   * second daemon's claim): fetch and decide again. Never retried on top of another commit.
   */
  commitOnto(
    branch: string,
    onto: string,
    files: Record<string, string | Uint8Array | null>,
    message: string,
  ): Promise<{ commit: string } | { moved: true }>;
  /**
   * An empty commit carrying `message` (a renewed claim's record) as a child of exactly `onto`,
   * pushed only if the branch still points at `onto` (as commitOnto). The working tree is not
   * touched: an execution is reading its plan from it meanwhile.
   */
  commitEmpty(branch: string, onto: string, message: string): Promise<{ commit: string } | { moved: true }>;
  /**
   * Messages of the commits on origin/<branch> whose message contains `needle`, oldest first: each
   * after its parents, whatever the commits' dates say.
   */
  messagesWith(branch: string, needle: string): Promise<Array<{ commit: string; message: string }>>;
  /** A regular file's content at a commit, or undefined. */
  readFileAt(commit: string, file: string): Promise<string | undefined>;
  /** As readFileAt, as bytes (result.jsonl.gz). */
  readBytesAt(commit: string, file: string): Promise<Uint8Array | undefined>;
}
