#!/usr/bin/env node
import { availableParallelism } from 'node:os'
import { defaultWorkers } from './cpu-quota.js'
import { cli } from './main.js'

process.exitCode = await cli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  // --workers' default: the cores, within a container's CPU quota
  cores: defaultWorkers(availableParallelism()),
})
