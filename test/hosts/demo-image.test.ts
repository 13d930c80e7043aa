/**
 * The demo image's build: what it produces, and the one-line errors that name the Debian
 * package when an ingredient is missing.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { gunzipSync } from 'node:zlib'
import { buildDemoImage, cpioNewc, DEMO_IMAGE_ID } from '../../src/agent/demo-image.ts'

describe('demo image', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'ecsd-image-'))
  after(() => rmSync(root, { recursive: true, force: true }))

  it('builds kernel, busybox initramfs, base disk and manifest', async () => {
    const dir = await buildDemoImage(path.join(root, 'images'))
    assert.equal(dir, path.join(root, 'images', DEMO_IMAGE_ID))
    assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'image.json'), 'utf8')), {
      id: DEMO_IMAGE_ID,
      kernel: 'vmlinuz',
      initrd: 'initrd.img',
      disk: 'base.qcow2',
    })
    // cpio(1) reads the archive written by hand.
    const listing = execFileSync('cpio', ['-itv', '--quiet'], { input: gunzipSync(readFileSync(path.join(dir, 'initrd.img'))) })
      .toString()
      .split('\n')
    for (const name of ['init', 'bin/busybox', 'bin/sh -> busybox', 'dev/console']) {
      assert.ok(listing.some((line) => line.endsWith(` ${name}`)), name)
    }
    assert.ok(listing.some((line) => line.startsWith('c') && line.includes('5,   1') && line.endsWith('dev/console')))
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', path.join(dir, 'base.qcow2')]).toString())
    assert.equal(info.format, 'qcow2')

    // Built again, the base disk under existing overlays is kept.
    const before = readFileSync(path.join(dir, 'base.qcow2'))
    await buildDemoImage(path.join(root, 'images'))
    assert.deepEqual(readFileSync(path.join(dir, 'base.qcow2')), before)
  })

  it('writes newc members padded to four bytes, ending with the trailer', () => {
    const archive = cpioNewc([{ name: 'a', mode: 0o100644, data: Buffer.from('xyz') }])
    assert.equal(archive.length % 4, 0)
    assert.equal(archive.subarray(0, 6).toString(), '070701')
    assert.ok(archive.includes('TRAILER!!!\0'))
  })

  it('says which Debian package provides a missing kernel or busybox', async () => {
    const empty = mkdtempSync(path.join(root, 'boot-'))
    await assert.rejects(buildDemoImage(path.join(root, 'x'), { bootDir: empty }), /linux-image-amd64/)
    await assert.rejects(
      buildDemoImage(path.join(root, 'x'), { busybox: path.join(root, 'no-busybox') }),
      /no busybox .*busybox-static/,
    )
    // A dynamically linked executable cannot run alone in an initramfs.
    await assert.rejects(
      buildDemoImage(path.join(root, 'x'), { busybox: process.execPath }),
      /dynamically linked: install the Debian package busybox-static/,
    )
  })
})
