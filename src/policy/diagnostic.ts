/**
 * Diagnostics at the edge: sorting and the three output formats of `validate-policies`.
 *
 * text:   `policies/catalog.yaml:14:10: error: rule "search": ttl: expected ...` (the
 *         compiler-style line editors and terminals link to; `file: error: ...` when the
 *         finding is about a whole file, line 0)
 * json:   an array of `{ code, severity, file, line, col, ruleId, message }` (ruleId null
 *         when none); field names are stable
 * github: workflow commands (`::error file=…,line=…,col=…,title=…::message`) that GitHub
 *         Actions turns into annotations on the diff
 */
import type { Diagnostic } from './types.js'

export type DiagnosticFormat = 'text' | 'json' | 'github'
export const DIAGNOSTIC_FORMATS: readonly DiagnosticFormat[] = Object.freeze(['text', 'json', 'github'])

/** By file, then line, then column; errors before warnings at the same place; otherwise stable. */
export function sortDiagnostics(diags: readonly Diagnostic[]): Diagnostic[] {
  return [...diags].sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      a.line - b.line ||
      a.col - b.col ||
      (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1),
  )
}

/** The message with its rule named, unless the message already starts by naming it. */
export function describe(d: Diagnostic): string {
  if (d.ruleId === undefined || d.message.startsWith(`rule "${d.ruleId}"`)) return d.message
  return `rule "${d.ruleId}": ${d.message}`
}

function textLine(d: Diagnostic): string {
  const where = d.line > 0 ? `${d.file}:${d.line}:${d.col}` : d.file
  return `${where}: ${d.severity}: ${describe(d)}`
}

// GitHub's toolkit escaping (actions/toolkit packages/core/src/command.ts: escapeData,
// escapeProperty): a message may not carry raw newlines, a property not ':' or ','.
const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
const escapeProperty = (s: string) => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C')

function githubLine(d: Diagnostic): string {
  const props = [`file=${escapeProperty(d.file)}`]
  if (d.line > 0) props.push(`line=${d.line}`, `col=${d.col}`)
  props.push(`title=${escapeProperty(d.code)}`)
  return `::${d.severity} ${props.join(',')}::${escapeData(describe(d))}`
}

/** Formats sorted diagnostics; text and github end each line with `\n`, json is one document. */
export function formatDiagnostics(diags: readonly Diagnostic[], format: DiagnosticFormat): string {
  const sorted = sortDiagnostics(diags)
  if (format === 'json') {
    const rows = sorted.map((d) => ({
      code: d.code,
      severity: d.severity,
      file: d.file,
      line: d.line,
      col: d.col,
      ruleId: d.ruleId ?? null,
      message: d.message,
    }))
    return `${JSON.stringify(rows, null, 2)}\n`
  }
  const line = format === 'github' ? githubLine : textLine
  return sorted.map((d) => `${line(d)}\n`).join('')
}
