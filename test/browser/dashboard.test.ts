/**
 * The dashboard in a real browser: Debian's Chromium (`/usr/bin/chromium`, or `ECSD_CHROMIUM`)
 * driven by playwright-core, against a real ecsd process with the demo fleet. An operator signs
 * in (with a password, then with the demo access key), sees the fleet, picks a group and sees
 * its members lit on distinct hosts; a member added through the API (add_member of a stopped
 * server that shares a member's host, so ecsd re-places it) appears without a reload; and the
 * moved server's history shows the move. A second process with a generated 10,000-host fleet
 * checks that the page draws only what is on screen and that the filters reach any host.
 *
 * Run apart from `npm test` with `npm run test:browser` (CI installs the chromium package first).
 * Screenshots go to test/browser/screenshots/ (git-ignored). Nothing waits for a fixed time:
 * every check polls the page (waitForSelector, waitForFunction) until it holds.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { sdkHeaders } from '../../src/api/auth/signature.ts'
import { DEMO } from '../../src/services/demo.ts'
import { demoPath, httpCall, httpWaitForJob, startEcsd, type EcsdProcess } from '../process.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const SCREENSHOTS = path.join(ROOT, 'test', 'browser', 'screenshots')
const CHROMIUM = process.env['ECSD_CHROMIUM'] ?? '/usr/bin/chromium'
/** Longest any one check waits for the page before it fails (a hang, not a slow machine). */
const WAIT_MS = 60_000
const VIEWPORT = { width: 1500, height: 900 }
const SCALE_HOSTS = 10_000

/** A signed call with the demo operator credential; fails the test unless it answers 200. */
async function admin(base: string, method: 'GET' | 'POST', pathAndQuery: string, body?: unknown): Promise<unknown> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  const credential = { accessKey: DEMO.adminAccessKey, secretKey: DEMO.adminSecretKey, projectId: DEMO.projectId }
  const headers = sdkHeaders({ method, url: pathAndQuery, host: new URL(base).host, body: payload, credential })
  const res = await fetch(base + pathAndQuery, { method, headers, ...(payload === undefined ? {} : { body: payload }) })
  const text = await res.text()
  assert.equal(res.status, 200, `${method} ${pathAndQuery}: ${text}`)
  return JSON.parse(text) as unknown
}

/** A tenant call (the demo project's credential, as the SDK signs); fails unless it answers 200. */
async function tenant(base: string, method: 'GET' | 'POST', p: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await httpCall(base, method, demoPath(p), body)
  assert.equal(res.status, 200, `${method} ${p}: ${JSON.stringify(res.body)}`)
  return (res.body ?? {}) as Record<string, unknown>
}

/** Creates servers and waits for their job; returns their ids. */
async function createServers(base: string, server: Record<string, unknown>): Promise<string[]> {
  const body = await tenant(base, 'POST', '/cloudservers', {
    server: { flavorRef: 's6.large.2', imageRef: 'img-ubuntu-22.04', vpcid: 'vpc-1', nics: [{ subnet_id: 'subnet-1' }], root_volume: { volumetype: 'SSD' }, ...server },
  })
  assert.equal(await httpWaitForJob(base, String(body['job_id'])), 'SUCCESS')
  return body['serverIds'] as string[]
}

async function hostOf(base: string, serverId: string): Promise<string> {
  const { server } = (await tenant(base, 'GET', `/cloudservers/${serverId}`)) as { server: Record<string, string> }
  return server['OS-EXT-SRV-ATTR:host']!
}

/** Builds the page when the checkout has no build yet (`npm ci` builds it). */
function ensureBuilt(): void {
  if (existsSync(path.join(ROOT, 'dashboard', 'dist', 'index.html'))) return
  const built = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build-dashboard.ts'], { cwd: ROOT, stdio: 'inherit' })
  assert.equal(built.status, 0, 'npm run build:dashboard failed')
}

async function launch(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set ECSD_CHROMIUM)`)
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The machine's network is closed: Chromium's own background connections would only fail.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) })
}

/** Runs the steps of a story in order; after a failure the rest are skipped, naming it. */
function steps() {
  let failed: string | undefined
  return (name: string, fn: (t: TestContext) => Promise<void>) =>
    test(name, async (t) => {
      if (failed !== undefined) return t.skip(`skipped: earlier step "${failed}" failed`)
      try {
        await fn(t)
      } catch (err) {
        failed = name
        throw err
      }
    })
}

/** Signs in with the demo operator's access key and waits for the fleet. */
async function signInWithKeys(page: Page, base: string): Promise<void> {
  await page.goto(`${base}/dashboard`)
  await page.fill('input[name=access_key]', DEMO.adminAccessKey)
  await page.fill('input[name=secret_key]', DEMO.adminSecretKey)
  await page.click('button[type=submit]')
  await page.waitForSelector('.host', { timeout: WAIT_MS })
}

/** The hosts lit for the selected group: their names and the member ids each card says it holds. */
function litHosts(page: Page): Promise<Array<{ host: string; members: string[] }>> {
  return page.$$eval('.host.lit', (cards) =>
    cards.map((c) => ({ host: c.getAttribute('data-host') ?? '', members: (c.getAttribute('data-members') ?? '').split(' ').filter(Boolean) })),
  )
}

describe('dashboard: the demo fleet', () => {
  let dataDir = ''
  let ecsd: EcsdProcess | undefined
  let browser: Browser | undefined
  let page: Page
  let base = ''
  let groupId = ''
  let members: string[] = []
  let added = ''
  let sharedHost = ''
  const step = steps()

  before(async () => {
    ensureBuilt()
    dataDir = mkdtempSync(path.join(tmpdir(), 'ecsd-browser-'))
    ecsd = await startEcsd(dataDir, ['--driver-latency-ms', '20'])
    base = ecsd.url
    browser = await launch()
    page = await browser.newPage({ viewport: VIEWPORT })
  })

  after(async () => {
    await browser?.close()
    if (ecsd) assert.equal(await ecsd.stop('SIGTERM'), 0, ecsd.stderr())
    if (dataDir !== '') rmSync(dataDir, { recursive: true, force: true })
  })

  step('an admin user signs in with a password (Identity v3) and signs out', async () => {
    await page.goto(`${base}/dashboard`)
    await page.waitForSelector('[data-testid=signin]')
    await shot(page, '01-sign-in')
    await page.click('button[role=tab]:has-text("Password")')
    await page.fill('input[name=user]', DEMO.adminUserName)
    await page.fill('input[name=password]', 'not the password')
    await page.click('button[type=submit]')
    await page.waitForSelector('[role=alert]', { timeout: WAIT_MS })
    await page.fill('input[name=password]', DEMO.adminUserPassword)
    await page.fill('input[name=project]', DEMO.projectName)
    await page.click('button[type=submit]')
    await page.waitForSelector('.host', { timeout: WAIT_MS })
    assert.match(await page.textContent('.who') ?? '', new RegExp(DEMO.adminUserName))
    await page.click('button:has-text("Sign out")')
    await page.waitForSelector('[data-testid=signin]')
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'nothing is kept after signing out')
  })

  step('a tenant key is refused: the dashboard is for operators', async () => {
    await page.fill('input[name=access_key]', DEMO.accessKey)
    await page.fill('input[name=secret_key]', DEMO.secretKey)
    await page.click('button[type=submit]')
    await page.waitForSelector('[role=alert]:has-text("operator")', { timeout: WAIT_MS })
  })

  step('the operator signs in with the demo access key and sees the fleet by zone', async () => {
    await signInWithKeys(page, base)
    await page.waitForFunction(() => document.querySelectorAll('.host').length === 16, undefined, { timeout: WAIT_MS })
    const sections = await page.$$eval('.section-az .section-title', (els) => els.map((e) => e.textContent))
    assert.deepEqual(sections, ['Zone az1', 'Zone az2'])
    const first = await page.textContent('.host[data-host="az1-host-01"]')
    assert.match(first ?? '', /vCPU.*0\/32/)
    assert.match(first ?? '', /RAM.*0\/128G/)
    await page.waitForSelector('[data-testid=live].live-live', { timeout: WAIT_MS })
    await shot(page, '02-fleet')
  })

  step('a group created through the API appears; picked, its members light up on distinct hosts', async () => {
    const created = await tenant(base, 'POST', '/cloudservers/os-server-groups', { server_group: { name: 'web', policies: ['anti-affinity'] } })
    groupId = (created['server_group'] as { id: string }).id
    members = await createServers(base, { name: 'web', count: 3, availability_zone: 'az1', 'os:scheduler_hints': { group: groupId } })
    await createServers(base, { name: 'batch', count: 4, availability_zone: 'az1', flavorRef: 'c7.2xlarge.4' })
    await createServers(base, { name: 'api', count: 3, availability_zone: 'az2' })
    await page.waitForSelector(`[data-testid=group-select] option[value="${groupId}"]`, { state: 'attached', timeout: WAIT_MS })
    await page.selectOption('[data-testid=group-select]', groupId)
    await page.waitForFunction((n) => document.querySelectorAll('.host.lit').length === n, members.length, { timeout: WAIT_MS })
    const lit = await litHosts(page)
    const hosts = await Promise.all(members.map((id) => hostOf(base, id)))
    assert.deepEqual(lit.map((l) => l.host).sort(), [...hosts].sort(), 'the lit hosts are the members\' hosts')
    assert.equal(new Set(lit.map((l) => l.host)).size, members.length, 'one member per host')
    assert.deepEqual(lit.flatMap((l) => l.members).sort(), [...members].sort())
    for (const l of lit) assert.equal(l.members.length, 1)
    await page.waitForFunction((n) => document.querySelectorAll('.chip.member').length === n, members.length, { timeout: WAIT_MS })
    await page.waitForSelector('[data-panel=Group] [data-testid=distinct-hosts]:has-text("3 on 3 distinct hosts")', { timeout: WAIT_MS })
    await shot(page, '03-group-selected')
  })

  step('a stopped server on a member\'s host, added through the API, is moved and lights up without a reload', async () => {
    await page.evaluate(() => Object.assign(window, { notReloaded: true }))
    const [late] = await createServers(base, { name: 'web-late', availability_zone: 'az1' })
    added = late!
    const memberHosts = await Promise.all(members.map((id) => hostOf(base, id)))
    const placed = await hostOf(base, added)
    const stop = await tenant(base, 'POST', '/cloudservers/action', { 'os-stop': { servers: [{ id: added }] } })
    assert.equal(await httpWaitForJob(base, String(stop['job_id'])), 'SUCCESS')
    // Beside a member (placement may have put it there; else an operator's cold migration does),
    // so that joining the group must move it.
    sharedHost = memberHosts.includes(placed) ? placed : memberHosts[0]!
    if (placed !== sharedHost) {
      const migrate = (await admin(base, 'POST', `/admin/servers/${added}/migrate`, { migrate: { host: sharedHost } })) as { job_id: string }
      assert.equal(await httpWaitForJob(base, migrate.job_id), 'SUCCESS')
      assert.equal(await hostOf(base, added), sharedHost)
    }

    const res = await httpCall(base, 'POST', demoPath(`/cloudservers/os-server-groups/${groupId}/action`), { add_member: { instance_uuid: added } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    await page.waitForFunction((n) => document.querySelectorAll('.host.lit').length === n, members.length + 1, { timeout: WAIT_MS })
    const target = await hostOf(base, added)
    assert.notEqual(target, sharedHost, 'add_member moved it off the member\'s host')
    await page.waitForSelector(`.host.lit[data-host="${target}"] .chip.member[data-server-id="${added}"]`, { timeout: WAIT_MS })
    const lit = await litHosts(page)
    assert.equal(new Set(lit.map((l) => l.host)).size, members.length + 1, 'still one member per host')
    await page.waitForSelector('[data-panel=Group] [data-testid=distinct-hosts]:has-text("4 on 4 distinct hosts")', { timeout: WAIT_MS })
    assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true, 'the page was not reloaded')
    await shot(page, '04-member-added')
  })

  step('the moved server\'s history shows the move, from the shared host to its new one, for add_member', async () => {
    await page.click(`.chip[data-server-id="${added}"]`)
    await page.waitForSelector(`[data-panel=Server] [data-server="${added}"]`, { timeout: WAIT_MS })
    const target = await hostOf(base, added)
    assert.equal(await page.textContent('[data-testid=server-host]'), target)
    const move = page.locator('.event[data-kind=moved]', { hasText: 'add_member' })
    await move.waitFor({ timeout: WAIT_MS })
    assert.equal((await move.locator('[data-testid=hop]').textContent())?.replace(/\s+/g, ' ').trim(), `${sharedHost} → ${target} add_member`)
    await page.waitForSelector('.event[data-kind=placed]', { timeout: WAIT_MS })
    await shot(page, '05-server-history')

    // The search finds it by name, and the host filter keeps only its host.
    await page.click('[data-panel=Server] .close')
    await page.fill('[data-testid=search]', 'web-late')
    await page.waitForSelector(`[data-testid=results] [data-server-id="${added}"]`, { timeout: WAIT_MS })
    await page.waitForFunction((h) => [...document.querySelectorAll('.host')].map((e) => e.getAttribute('data-host')).join() === h, target, { timeout: WAIT_MS })
    await page.fill('[data-testid=search]', '')
  })
})

describe('dashboard: 10,000 hosts', () => {
  let dataDir = ''
  let ecsd: EcsdProcess | undefined
  let browser: Browser | undefined
  let page: Page
  let last = ''
  const step = steps()

  before(async () => {
    ensureBuilt()
    dataDir = mkdtempSync(path.join(tmpdir(), 'ecsd-browser-scale-'))
    const generated = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/main.ts', 'fleet', 'generate', '--hosts', String(SCALE_HOSTS), '--servers-per-host', '10', '--fault-domains', '20', '--data-dir', dataDir],
      { cwd: ROOT, encoding: 'utf8', env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ECSD_'))) },
    )
    assert.equal(generated.status, 0, generated.stderr)
    ecsd = await startEcsd(dataDir)
    browser = await launch()
    page = await browser.newPage({ viewport: VIEWPORT })
  })

  after(async () => {
    await browser?.close()
    if (ecsd) assert.equal(await ecsd.stop('SIGTERM'), 0, ecsd.stderr())
    if (dataDir !== '') rmSync(dataDir, { recursive: true, force: true })
  })

  step('the page draws a screenful of host cards, not 10,000, with zone and fault-domain totals', async () => {
    const { hosts } = (await admin(ecsd!.url, 'GET', '/admin/fleet')) as { hosts: Array<{ name: string }> }
    assert.ok(hosts.length >= SCALE_HOSTS)
    last = hosts.at(-1)!.name
    await signInWithKeys(page, ecsd!.url)
    const total = hosts.length.toLocaleString('en')
    assert.equal(await page.textContent('[data-testid=shown-count]'), `${total} of ${total} hosts`)
    const cards = await page.$$eval('.host', (els) => els.length)
    assert.ok(cards > 0 && cards < 300, `${cards} host cards in the DOM`)
    const zones = await page.$$eval('.section-az .section-title', (els) => els.map((e) => e.textContent))
    assert.ok(zones.includes('Zone az1'), zones.join())
    await page.waitForSelector('.section-fd', { timeout: WAIT_MS })
    await page.waitForSelector('.host .chips.dots .chip', { timeout: WAIT_MS })
    await shot(page, '06-scale')
  })

  step('scrolling to the end draws the last hosts, still a screenful', async () => {
    await page.$eval('[data-testid=fleet]', (el) => el.scrollTo(0, el.scrollHeight))
    await page.waitForFunction(
      (name) => document.querySelector(`.host[data-host="${name}"]`) !== null && document.querySelectorAll('.host').length < 300,
      last,
      { timeout: WAIT_MS },
    )
  })

  step('filters reach any host: a name, a zone, a group', async () => {
    await page.fill('[data-testid=search]', 'az3-host-009999')
    await page.waitForFunction(() => [...document.querySelectorAll('.host')].map((e) => e.getAttribute('data-host')).join() === 'az3-host-009999', undefined, { timeout: WAIT_MS })
    await page.fill('[data-testid=search]', '')
    const { hosts } = (await admin(ecsd!.url, 'GET', '/admin/fleet')) as { hosts: Array<{ availability_zone: string }> }
    const inZone = `${hosts.filter((h) => h.availability_zone === 'az2').length.toLocaleString('en')} of ${hosts.length.toLocaleString('en')} hosts`
    await page.selectOption('[data-testid=zone]', 'az2')
    await page.waitForFunction((text) => document.querySelector('[data-testid=shown-count]')?.textContent === text, inZone, { timeout: WAIT_MS })
    await page.selectOption('[data-testid=zone]', '')
    const option = await page.$eval('[data-testid=group-select] option:nth-child(2)', (o) => (o as HTMLOptionElement).value)
    await page.selectOption('[data-testid=group-select]', option)
    await page.check('input[type=checkbox]')
    await page.waitForFunction(() => {
      const lit = [...document.querySelectorAll('.host.lit')].map((e) => e.getAttribute('data-host'))
      return lit.length > 1 && lit.length === document.querySelectorAll('.host').length && new Set(lit).size === lit.length
    }, undefined, { timeout: WAIT_MS })
    await shot(page, '07-scale-group')
  })
})
