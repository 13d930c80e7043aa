import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { cell, fields, progressBar, table } from '../../src/cli/output.ts'

/** A stream that records what is written, a terminal or not. */
function stream(isTTY: boolean, columns = 80): NodeJS.WriteStream & { written: string } {
  const s = { isTTY, columns, written: '', write: (text: string) => ((s.written += text), true) }
  return s as unknown as NodeJS.WriteStream & { written: string }
}

describe('table', () => {
  test('columns two spaces apart under upper-case headers, no trailing spaces; the empty text when there are no rows', () => {
    assert.equal(
      table(['name', 'az', 'servers'], [['host-1', 'az1', '2'], ['h', 'az10', '10']]),
      ['NAME    AZ    SERVERS', 'host-1  az1   2', 'h       az10  10'].join('\n'),
    )
    assert.equal(table(['name'], [], '(no hosts)'), '(no hosts)')
  })

  test('wide characters take two columns; control characters are shown as escapes, not obeyed', () => {
    const out = table(['name', 'status'], [['网站服务器', 'ACTIVE'], ['web', 'SHUTOFF'], ['evil\x1b[2J\nname', 'ERROR']])
    const [header, wide, narrow, evil] = out.split('\n')
    // The widest name is the escaped one: 19 columns.
    assert.equal(evil, 'evil\\u{1b}[2J\\nname  ERROR')
    assert.equal(header, `NAME${' '.repeat(17)}STATUS`)
    assert.equal(wide, `网站服务器${' '.repeat(11)}ACTIVE`)
    assert.equal(narrow, `web${' '.repeat(18)}SHUTOFF`)
    assert.equal(cell('tab\there'), 'tab\\there')
  })

  test('fields: one record, its values aligned', () => {
    assert.equal(fields([['name', 'h1'], ['availability zone', 'az1']]), 'name               h1\navailability zone  az1')
  })
})

describe('progressBar', () => {
  test('on a terminal: one bar redrawn in place, cut to its width, ended by a newline', () => {
    const tty = stream(true, 60)
    const bar = progressBar({ stream: tty })
    bar.update(0, 4, 'fleet 0/4')
    bar.update(2, 4, 'fleet 2/4')
    bar.update(2, 4, 'fleet 2/4')
    bar.update(4, 4, 'fleet 4/4 and a long text that the terminal cannot hold on one line')
    bar.end()
    const draws = tty.written.split('\r').slice(1)
    assert.equal(draws.length, 3, 'the same text is not drawn twice')
    assert.equal(draws[0], `[${'.'.repeat(30)}]   0% fleet 0/4\x1b[K`)
    assert.equal(draws[1], `[${'#'.repeat(15)}${'.'.repeat(15)}]  50% fleet 2/4\x1b[K`)
    assert.equal(draws[2], `${`[${'#'.repeat(30)}] 100% fleet 4/4 and a long text that the terminal cannot hold on one line`.slice(0, 59)}\x1b[K\n`)
  })

  test('off a terminal: nothing, so scripts and logs get only the answer; with lines, each change on a line of its own', () => {
    const pipe = stream(false)
    const bar = progressBar({ stream: pipe })
    bar.update(1, 2, 'half')
    bar.end()
    assert.equal(pipe.written, '')
    const log = stream(false)
    const lines = progressBar({ stream: log, lines: true })
    for (const text of ['waiting', 'waiting', 'done']) lines.update(0, 1, text)
    lines.end()
    assert.equal(log.written, 'waiting\ndone\n')
  })
})
