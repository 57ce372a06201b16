#!/usr/bin/env node
import '../dist/cli/bin-validate-policies.js'
