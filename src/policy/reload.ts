/**
 * Policy reloading, the part that is about files: what starts a reload (`watchPolicies`, for
 * `watch: true`) and what a reload accepts (`loadForReload`). The reload itself (serialised,
 * load → compile → one swap, the last good set kept on any error) stays in create-cache.ts.
 * Imports no request-path module.
 *
 * What the watcher follows, and how (issue 12.7; docs/threats.md T65):
 * - Editors save by rename-and-replace (write a temp or `x~`, rename over `x`), and a Kubernetes
 *   ConfigMap volume never changes its files at all: they are symlinks `name -> ..data/name`, and
 *   an update writes a new `..<timestamp>` folder, renames a `..data_tmp` symlink over `..data`,
 *   then deletes the old folder (kubernetes pkg/volume/util/atomic_writer.go). So we watch each
 *   policy folder (a file target's folder), and let through events for policy names and for
 *   `..` names.
 * - inotify watches an inode, not a path: after `mv dir dir.old; mv dir.new dir` a watch on `dir`
 *   follows `dir.old`. So the parent folder is watched too, for events naming the folder, and a
 *   watch is re-armed whenever its path has come to name another inode (checked on those events,
 *   before each reload and at each poll). The old watch is closed first: however many swaps, one
 *   watch per path.
 * - fs.watch is not enough everywhere: NFS, CIFS and FUSE report no change made by another host,
 *   a symlink to a file outside the folder is not seen, and inotify can overflow its queue or hit
 *   the watch limit. As the fallback, a poll every POLL_MS takes a stat signature of the policy
 *   files (readdir + one stat a file, following symlinks: device, inode, size, mtime, ctime) and
 *   starts a reload when it moved. It costs a few syscalls a second; it cannot see a same-size
 *   rewrite within one tick of a coarse filesystem clock, which a watch event covers.
 *
 * node:fs rather than chokidar: chokidar 6 needs Node 22, and chokidar 5 would be a dependency for
 * what this file does, whose ConfigMap and folder-swap behaviour would still need these tests.
 */
import { type FSWatcher, watch as fsWatch, statSync } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import type { LogFields } from '../log.js'
import { isPolicyName, wholeFile } from './files.js'
import { loadPolicySet, type PolicySource } from './load.js'
import type { Diagnostic, LoadResult } from './types.js'

/** @default 1000: the stat-signature poll's period, ms. */
export const POLL_MS = 1000

export interface WatchOptions {
  /** quiet time after the last event before `onChange` runs, ms */
  readonly debounceMs: number
  /** the stat-signature poll's period, ms; 0 turns it off. @default POLL_MS */
  readonly pollMs?: number
  /** false: no fs.watch, the poll alone (filesystems without working events; tests). @default true */
  readonly events?: boolean
  /** a plain logger's warn will do (console); cachet's own gets the event's fields too */
  readonly log: { warn(message: string, fields?: LogFields): void }
  /** the files may have changed: reload. Runs at most once per quiet period, after re-arming. */
  onChange(): void
}

export interface PolicyWatcher {
  /** closes every watch and timer; `onChange` never runs afterwards */
  close(): void
}

/**
 * Watches the policy target(s) and calls `onChange` `debounceMs` after the last relevant event,
 * or after the poll saw the files move.
 *
 * @example
 * const w = watchPolicies('policies', { debounceMs: 100, log: console, onChange: () => void cache.reload() })
 * w.close()
 */
export function watchPolicies(target: string | readonly string[], options: WatchOptions): PolicyWatcher {
  return new Watcher(typeof target === 'string' ? [target] : target, options)
}

/**
 * The loader as a reload uses it. A reload that finds a folder empty (POLICY_EMPTY) from which the
 * set in force had files is refused, as is one that finds no policy file at all while the set in
 * force came from some (an error here where it is a warning at start): an emptied folder is a
 * deploy half done or a file deleted to be written again far more often than a wish to drop its
 * rules, and applying it would turn them off at once, silently when other folders still hold
 * files. To cache nothing from a folder, keep a file with `rules: []` in it.
 *
 * @param previous the files of the set in force, as displayed (`PolicySet.files`)
 * @param read when given, each file read is pushed to it (cachet serve --workers keeps the fleet's set)
 */
export async function loadForReload(
  target: string | readonly string[],
  previous: readonly string[],
  read?: PolicySource[],
): Promise<LoadResult> {
  const loaded = (await loadPolicySet(target, {}, true, { read })).result
  if (!loaded.ok || previous.length === 0) return loaded
  const had = new Set(previous.map((f) => resolve(dirname(f))))
  const emptied = loaded.warnings.filter((w) => w.code === 'POLICY_EMPTY' && had.has(resolve(w.file)))
  if (emptied.length === 0 && loaded.files.length > 0) return loaded
  const base =
    emptied.length > 0 ? emptied : [wholeFile('POLICY_EMPTY', String(target), 'no file', 'warning')]
  const errors = base.map(
    (w): Diagnostic => ({
      ...w,
      severity: 'error',
      message:
        `${w.message}; a reload that finds a folder emptied of its policy files keeps the set in force` +
        ' (to cache nothing from it, keep a file with `rules: []`)',
    }),
  )
  return { ok: false, errors, warnings: loaded.warnings.filter((w) => !emptied.includes(w)) }
}

interface Target {
  /** the target, absolute */
  readonly abs: string
  /** the folder watched: the target, or a file target's folder */
  readonly folder: string
  /** a file target's name in `folder` */
  readonly only: string | undefined
}

class Watcher implements PolicyWatcher {
  readonly #targets: Target[]
  readonly #opts: WatchOptions
  readonly #watches: PathWatch[] = []
  #timer: NodeJS.Timeout | undefined
  #poll: NodeJS.Timeout | undefined
  /** the signature the last reload started from; the poll compares against it */
  #baseline: string | undefined
  #closed = false

  constructor(targets: readonly string[], opts: WatchOptions) {
    this.#opts = opts
    this.#targets = targets.map(toTarget)
    if (opts.events !== false) {
      for (const t of this.#targets) {
        const own = basename(t.folder)
        this.#watches.push(
          new PathWatch(t.folder, opts, (name) => {
            if (name === own) this.#rearm() // the folder itself moved (inotify IN_MOVE_SELF)
            const mine = t.only === undefined ? isPolicyName(name ?? '') : name === t.only
            if (name === null || name === own || name.startsWith('..') || mine) this.#schedule()
          }),
        )
        const parent = dirname(t.folder)
        if (parent === t.folder) continue
        this.#watches.push(
          new PathWatch(parent, opts, (name) => {
            if (name !== null && name !== own) return
            this.#rearm()
            this.#schedule()
          }),
        )
      }
    }
    if ((opts.pollMs ?? POLL_MS) > 0) void this.#tick()
  }

  close(): void {
    this.#closed = true
    clearTimeout(this.#timer)
    clearTimeout(this.#poll)
    for (const w of this.#watches) w.close()
  }

  #rearm(): void {
    for (const w of this.#watches) w.rearm()
  }

  #schedule(): void {
    if (this.#closed) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      void this.#fire()
    }, this.#opts.debounceMs)
  }

  async #fire(): Promise<void> {
    this.#timer = undefined
    this.#rearm()
    // Taken before the reload reads the files: a change after it moves the signature, so the poll
    // catches what a lost event would have missed.
    const sig = await this.#signature()
    if (this.#closed) return
    this.#baseline = sig
    this.#opts.onChange()
  }

  async #tick(): Promise<void> {
    this.#rearm()
    const sig = await this.#signature()
    if (this.#closed) return
    if (this.#baseline === undefined) this.#baseline = sig
    else if (sig !== this.#baseline && this.#timer === undefined) this.#schedule()
    this.#poll = setTimeout(() => {
      void this.#tick()
    }, this.#opts.pollMs ?? POLL_MS)
  }

  async #signature(): Promise<string> {
    const parts = await Promise.all(
      this.#targets.map(async (t) => {
        if (t.only !== undefined) return `${await id(t.folder)} ${await id(t.abs, true)}`
        const names = await readdir(t.folder).then(
          (n) => n.filter(isPolicyName).sort(),
          () => [],
        )
        const files = await Promise.all(names.map(async (n) => `${n}=${await id(join(t.folder, n), true)}`))
        return `${await id(t.folder)} ${files.join(' ')}`
      }),
    )
    return parts.join('\n')
  }
}

function toTarget(t: string): Target {
  const abs = resolve(t)
  let isDir: boolean
  try {
    isDir = statSync(abs).isDirectory()
  } catch {
    isDir = !/\.ya?ml$/.test(abs) // gone for now: guess from the name, as the loader will see it
  }
  return isDir ? { abs, folder: abs, only: undefined } : { abs, folder: dirname(abs), only: basename(abs) }
}

/** What a stat says about a path: which inode (and with `content`, which version of it), or '-'. */
async function id(path: string, content = false): Promise<string> {
  try {
    const st = await stat(path)
    return content ? `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` : `${st.dev}:${st.ino}`
  } catch {
    return '-'
  }
}

type WatchLog = Pick<WatchOptions, 'log' | 'pollMs'>

/** fs.watch on a folder's path, following the path: re-armed when it names another inode. */
class PathWatch {
  readonly #path: string
  readonly #opts: WatchLog
  readonly #onEvent: (name: string | null) => void
  #fsw: FSWatcher | undefined
  /** `dev:ino` of the folder `#fsw` watches */
  #inode = ''
  #warned = false
  #closed = false

  constructor(path: string, opts: WatchLog, onEvent: (name: string | null) => void) {
    this.#path = path
    this.#opts = opts
    this.#onEvent = onEvent
    this.rearm()
  }

  /** Watches the folder the path names now; a watch on an inode it no longer names is closed. */
  rearm(): void {
    if (this.#closed) return
    let inode = ''
    try {
      const st = statSync(this.#path)
      if (st.isDirectory()) inode = `${st.dev}:${st.ino}`
    } catch {
      // gone for now (mid-swap): the parent's watch or the poll re-arms it
    }
    if (inode === this.#inode && this.#fsw !== undefined) return
    this.#stop()
    if (inode === '') return
    try {
      const w = fsWatch(this.#path, (_event, name) => {
        if (this.#fsw === w) this.#onEvent(name === null ? null : String(name))
      })
      w.on('error', (err) => {
        if (this.#fsw !== w) return
        this.#stop()
        this.#warn(`policy watcher: ${this.#path}: ${err.message}`)
      })
      this.#fsw = w
      this.#inode = inode
      this.#warned = false
    } catch (err) {
      // ENOSPC (the inotify watch limit), EACCES, EMFILE: the poll still sees changes
      const why = err instanceof Error ? err.message : String(err)
      this.#warn(`policy watcher: cannot watch ${this.#path}: ${why}`)
    }
  }

  close(): void {
    this.#closed = true
    this.#stop()
  }

  #stop(): void {
    this.#fsw?.close()
    this.#fsw = undefined
    this.#inode = ''
  }

  /** once until the next successful watch, so a poll re-trying every second does not flood the log */
  #warn(message: string): void {
    if (this.#warned) return
    this.#warned = true
    const poll = this.#opts.pollMs ?? POLL_MS
    this.#opts.log.warn(
      poll > 0 ? `${message} (changes are still seen by a poll every ${poll} ms)` : message,
      {
        event: 'watch-degraded',
        path: this.#path,
        pollMs: poll,
      },
    )
  }
}
