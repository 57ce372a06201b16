/**
 * What a process holds open, for the leak checks of the watch and reload tests: fs.watch
 * handles, the kernel's inotify watches, and file descriptors (Linux /proc; 0 elsewhere).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'

/** fs.watch handles alive in this process (node's FSWatcher objects). */
export function fsWatchers(): number {
  const handles = (process as unknown as { _getActiveHandles(): object[] })._getActiveHandles()
  return handles.filter((h) => h.constructor.name === 'FSWatcher').length
}

/**
 * inotify watches this process holds, as the kernel counts them (one `inotify wd:` line per
 * watch in /proc/self/fdinfo of each inotify descriptor; libuv shares one watch per inode).
 */
export function inotifyWatches(): number {
  let n = 0
  for (const fd of fds()) {
    let link: string
    try {
      link = readlinkSync(`/proc/self/fd/${fd}`)
    } catch {
      continue
    }
    if (link !== 'anon_inode:inotify') continue
    try {
      const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
      n += info.split('\n').filter((l) => l.startsWith('inotify wd:')).length
    } catch {
      // closed meanwhile
    }
  }
  return n
}

/** Open file descriptors of this process. */
export function openFds(): number {
  return fds().length
}

function fds(): string[] {
  try {
    return readdirSync('/proc/self/fd')
  } catch {
    return []
  }
}
