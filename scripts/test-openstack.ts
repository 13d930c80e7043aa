/**
 * The OpenStack CLI suite, as `npm run test:openstack` runs it: installs Debian's
 * `python3-openstackclient` when it is missing (apt-get as root), type-checks, then runs every
 * test file of `test/openstack/` (or those named: `npm run test:openstack --
 * test/openstack/x.test.ts`) one at a time: each starts a real ecsd and drives it with the
 * `openstack` command under Debian's `/usr/bin/python3` (another python3 on the PATH may not
 * import Debian's packages). Kept apart from `npm test`, which needs no Python.
 */
import { ensureDebianPackages, runSuite } from './lib/suite.ts'

ensureDebianPackages('test:openstack', ['python3-openstackclient'])
await runSuite('test/openstack')
