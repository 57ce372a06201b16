/**
 * A real Redis Cluster (masters only) built from `startRedis` processes and joined with
 * `redis-cli --cluster create`, so slot routing, MOVED and a dead master are the server's own.
 */
import { execFile } from 'node:child_process'
import { freePort, type RedisProc, startRedis } from './redis-server.js'

export interface StartClusterOptions {
  /** @default 3 (the minimum `redis-cli --cluster create` accepts) */
  masters?: number
  /** extra redis-server arguments for every node, e.g. `['--cluster-require-full-coverage', 'no']` */
  args?: string[]
}

export interface RedisClusterProc {
  readonly nodes: { host: string; port: number }[]
  readonly procs: RedisProc[]
  /** stop every node (idempotent) */
  stop(): Promise<void>
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stdout}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

export async function startCluster(opts: StartClusterOptions = {}): Promise<RedisClusterProc> {
  const masters = opts.masters ?? 3
  const procs: RedisProc[] = []
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop()))
  }
  try {
    for (let i = 0; i < masters; i++) {
      // The bus port defaults to port + 10000, which may be taken or exceed 65535 for an
      // ephemeral port: pick it explicitly (`cluster-port`, Redis >= 7.0).
      const bus = await freePort()
      procs.push(
        await startRedis({
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '2000',
            '--cluster-port',
            String(bus),
            ...(opts.args ?? []),
          ],
        }),
      )
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...procs.map((p) => `127.0.0.1:${p.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ])
    const until = Date.now() + 20_000
    for (const p of procs) {
      for (;;) {
        const info = await p.cli('CLUSTER', 'INFO')
        if (info.includes('cluster_state:ok')) break
        if (Date.now() > until) throw new Error(`cluster node ${p.port} not ok:\n${info}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { nodes: procs.map((p) => ({ host: '127.0.0.1', port: p.port })), procs, stop }
}
