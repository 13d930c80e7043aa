/**
 * What the `ecsd` commands print, written once: tables and field lists for people, JSON for
 * scripts (`--json`), and progress bars on a terminal. Answers go to stdout; progress goes to
 * stderr, so a script's stdout is only the answer.
 *
 * Tables are plain columns, two spaces apart, under upper-case headers (as kubectl and docker
 * print them): readable, and stable for `grep` and `awk`. A table library would add borders and
 * word wrapping that would have to be turned off again.
 */

/** Writes `text` to stdout, ending it with a newline. */
export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
}

/** Writes `value` to stdout as indented JSON. */
export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2))
}

/**
 * Left-aligned columns under upper-case headers; `empty` when there are no rows. Cells are made
 * safe for a terminal first (`cell`), and wide characters count two columns, so names in any
 * script line up.
 */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>, empty = '(none)'): string {
  if (rows.length === 0) return empty
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((row) => headers.map((_, i) => cell(row[i] ?? '')))]
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => columns(row[i]!))))
  return cells.map((row) => row.map((c, i) => c + ' '.repeat(widths[i]! - columns(c))).join('  ').trimEnd()).join('\n')
}

/** `name  value` lines, the values aligned: one record, as `hosts show` prints a host. */
export function fields(pairs: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...pairs.map(([name]) => columns(name)))
  return pairs.map(([name, value]) => `${name}${' '.repeat(width - columns(name))}  ${cell(value)}`).join('\n')
}

// Control characters (newlines, escape sequences) and bidirectional overrides, which would break
// a table's lines or let a tenant's server name rewrite the operator's terminal.
const UNSAFE = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/gu
const ZERO_WIDTH = /[\p{Mn}\p{Me}\u200B-\u200D\uFE0E\uFE0F]/u
const WIDE = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Emoji_Presentation}\u3000-\u303F\uFF01-\uFF60\uFFE0-\uFFE6]/u

/** Text as one line a terminal shows as it is: control characters written as escapes (`\n`, `\x1b`). */
export function cell(text: string): string {
  return text.replace(UNSAFE, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\u{${c.codePointAt(0)!.toString(16)}}`))
}

/** The columns `text` takes on a terminal. */
function columns(text: string): number {
  let n = 0
  for (const c of text) n += ZERO_WIDTH.test(c) ? 0 : WIDE.test(c) ? 2 : 1
  return n
}

const BAR_WIDTH = 30

/** A progress bar of long work, from `progressBar`. */
export interface Progress {
  /** `done` of `total`, and what the bar says after it; drawn again only when that changes. */
  update(done: number, total: number, text: string): void
  /** Ends the bar's line, so what follows starts on a line of its own. */
  end(): void
}

/**
 * A progress bar on stderr: redrawn in place when stderr is a terminal, and otherwise silent, so
 * that scripts and logs get only the answer. `lines: true` writes the text as a line of its own
 * instead, each time it changes, where a command may wait long and should say why even to a log
 * (`hosts drain`).
 */
export function progressBar(options: { lines?: boolean; stream?: NodeJS.WriteStream } = {}): Progress {
  const stream = options.stream ?? process.stderr
  let last = ''
  let drawn = false
  return {
    update(done, total, text) {
      if (text === last) return
      last = text
      if (!stream.isTTY) {
        if (options.lines) stream.write(`${text}\n`)
        return
      }
      const fraction = total <= 0 ? 1 : Math.min(1, done / total)
      const full = Math.round(fraction * BAR_WIDTH)
      const bar = `[${'#'.repeat(full)}${'.'.repeat(BAR_WIDTH - full)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${cell(text)}`
      // Cut to the terminal's width (0 when the terminal does not say): a wrapped line cannot be redrawn in place.
      const terminal = stream.columns > 0 ? stream.columns : 120
      stream.write(`\r${bar.slice(0, Math.max(20, terminal - 1))}\x1b[K`)
      drawn = true
    },
    end() {
      if (drawn) stream.write('\n')
      drawn = false
    },
  }
}
