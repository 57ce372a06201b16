#!/usr/bin/env node
import '../dist/cli/bin-cachet.js'
