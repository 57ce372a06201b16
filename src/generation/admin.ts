/**
 * The admin endpoint grew into the status console and moved to ../admin/ (issue 9); its options
 * type stays importable from its first home.
 */
export type { AdminOptions } from '../admin/options.js'
