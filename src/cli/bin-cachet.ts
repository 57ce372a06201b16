#!/usr/bin/env node
import { availableParallelism } from 'node:os'
import { cli } from './main.js'

process.exitCode = await cli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  cores: availableParallelism(),
})
