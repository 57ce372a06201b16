#!/usr/bin/env node
import { validatePolicies } from './validate.js'

process.exitCode = await validatePolicies(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
})
