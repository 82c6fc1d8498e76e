/**
 * Named places where the fault suite can make the process die at the worst instant, with
 * `TABLETIME_FAULTS=name[,name…]`: the process sends itself SIGKILL there, exactly as `kill -9`
 * would. Unset (always, in production) it costs one lookup.
 *   capture.after-files       change files are durable and visible, the checkpoint is not yet saved
 *   snapshot.after-chunk      a snapshot chunk is written to staging, nothing is published
 *   snapshot.before-publish   the snapshot is read and its intent saved; no file is published yet
 */
const active = new Set((process.env.TABLETIME_FAULTS ?? '').split(',').filter(Boolean));

export function faultPoint(name: string): void {
  if (active.size > 0 && active.has(name)) process.kill(process.pid, 'SIGKILL');
}
