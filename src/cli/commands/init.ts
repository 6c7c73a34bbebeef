export interface InitOptions {
  skipExisting?: boolean;
}
export function initCommand(_d: string, _o: InitOptions): Promise<number> {
  return Promise.resolve(2);
}
