/**
 * `npm run image:demo [-- --image-dir DIR]`: builds the bootable demo image `demo-busybox`
 * (Debian's kernel and a busybox initramfs) into `./images/` or DIR, for agents running real
 * VMs. Prints the image's directory; on a missing ingredient, one line saying which Debian
 * package provides it.
 */
import { parseArgs } from 'node:util'
import { buildDemoImage } from '../src/agent/demo-image.ts'

const { values } = parseArgs({ options: { 'image-dir': { type: 'string', default: './images' } } })

try {
  const dir = await buildDemoImage(values['image-dir'])
  process.stdout.write(`${dir}\n`)
} catch (error) {
  process.stderr.write(`image:demo: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
}
