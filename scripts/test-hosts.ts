/**
 * The suite of real hosts, as `npm run test:hosts` runs it: installs the Debian packages it
 * needs when they are missing (qemu-system-x86, qemu-utils, busybox-static, linux-image-amd64;
 * apt-get as root), type-checks, then runs every test file of `test/hosts/` (or those named:
 * `npm run test:hosts -- test/hosts/x.test.ts`) one at a time, because each boots real VMs
 * (QEMU, TCG without /dev/kvm) and they would slow each other past their bounds on a small
 * machine. Kept apart from `npm test`, which needs none of them.
 */
import { ensureDebianPackages, runSuite } from './lib/suite.ts'

ensureDebianPackages('test:hosts', ['qemu-system-x86', 'qemu-utils', 'busybox-static', 'linux-image-amd64'])
await runSuite('test/hosts')
