/**
 * The CommonJS entry, `require('cachet')` (package.json exports "require"): the very module of the
 * ES entry, loaded through Node's require(esm), which Node 20.19 and later (package.json
 * "engines") do without a flag. `const { createCache } = require('cachet')` then works as the
 * import does; the objects are the same (one module instance for both entries).
 */
import cachet = require('./index.js')

export = cachet
