/** What the reconciler needs from the config repository; src/git implements it on simple-git. */
export interface RepoPort {
  fetch(): Promise<void>;
  branches(): Promise<Array<{ name: string; commit: string }>>;
  /** A clean working tree of origin/<branch>. */
  checkout(branch: string): Promise<{ dir: string; commit: string }>;
  /** Paths the head adds or changes relative to its merge base with base. */
  changedFiles(base: string, head: string): Promise<string[]>;
  /** Commits the files (paths under reports/ only; null deletes) and pushes; retried after a fetch when the branch moved. */
  commitAndPush(
    branch: string,
    files: Record<string, string | null>,
    message: string,
  ): Promise<{ commit: string } | { unchanged: true }>;
}
