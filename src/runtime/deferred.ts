/**
 * A promise settled from outside, for the `result` / `stats` promises of streams: they settle when the iteration
 * ends. An unobserved rejection never crashes the process (the iterator rethrows the same error to whoever iterates).
 */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}
