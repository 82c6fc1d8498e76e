/**
 * One process per role on a data dir, on this machine: a second capture on the same data dir would
 * take a second snapshot at another position (every row twice in the history) and share the first
 * one's staging folder; a second apply worker with `--bucket` would remove the first one's
 * downloads. The lock is a Linux abstract Unix socket named after the data dir's real path: binding
 * it is atomic, and the kernel releases it when the process ends in any way (kill -9 included), so
 * there is no lock file to go stale and a restart takes it at once. It covers the processes of one
 * machine (one network namespace); data dirs shared between machines are not guarded.
 */
import { createHash } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { ConfigError } from './errors.ts';

export interface DirLock extends AsyncDisposable {
  release(): Promise<void>;
}

/** Locks this process holds, by name, with how many times each was taken (it is re-entrant). */
const held = new Map<string, { server: Server; count: number }>();

/**
 * Takes `role`'s lock on `dataDir` (which exists), or fails with DATA_DIR_BUSY, whose message ends
 * with `whatToDo`. Taking it again in the same process is allowed (`run` holds it for capture).
 */
export async function lockDataDir(dataDir: string, role: string, whatToDo: string): Promise<DirLock> {
  if (process.platform !== 'linux') {
    const none = () => Promise.resolve();
    return { release: none, [Symbol.asyncDispose]: none };
  }
  const path = await realpath(dataDir);
  const name = `\0tabletime:${role}:${createHash('sha256').update(path).digest('hex').slice(0, 32)}`;
  let lock = held.get(name);
  if (lock) {
    lock.count++;
  } else {
    const server: Server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EADDRINUSE') return reject(err);
        reject(
          new ConfigError(
            'DATA_DIR_BUSY',
            `another tabletime ${role} is using ${path} on this machine: ${whatToDo}`,
          ),
        );
      });
      server.listen(name, resolve);
    });
    server.unref(); // holding the lock must not keep the process alive
    lock = { server, count: 1 };
    held.set(name, lock);
  }
  const taken = lock;
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    if (--taken.count > 0) return;
    held.delete(name);
    await new Promise<void>((resolve) => taken.server.close(() => resolve()));
  };
  return { release, [Symbol.asyncDispose]: release };
}
