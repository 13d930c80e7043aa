import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { tempDir } from '../helper.ts'
import { demoPath, httpCall, httpWaitForJob, startEcsd } from '../process.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

test('the README SDK example runs as printed against a real server', async (t) => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const example = /```js\n([\s\S]*?)```/.exec(readme)?.[1]
  assert.ok(example, 'README has a js example')
  assert.ok(example.split('\n').filter((l) => l.trim() !== '').length <= 14, 'the example stays short')

  const ecsd = await startEcsd(tempDir(t), ['--driver-latency-ms', '0'])
  t.after(() => ecsd.stop())
  const created = await httpCall(ecsd.url, 'POST', demoPath('/cloudservers'), {
    server: { name: 'r', flavorRef: 's6.large.2', imageRef: 'i', vpcid: 'v', nics: [{ subnet_id: 's' }], root_volume: { volumetype: 'SSD' } },
  })
  const { job_id, serverIds } = created.body as { job_id: string; serverIds: string[] }
  await httpWaitForJob(ecsd.url, job_id)
  const stop = await httpCall(ecsd.url, 'POST', demoPath('/cloudservers/action'), { 'os-stop': { servers: [{ id: serverIds[0] }] } })
  await httpWaitForJob(ecsd.url, (stop.body as { job_id: string }).job_id)

  // The script must sit inside the project so that its imports resolve from node_modules.
  const script = path.join(ROOT, `.readme-example-${process.pid}.mjs`)
  writeFileSync(script, example.replace('http://127.0.0.1:8080', ecsd.url))
  t.after(() => rmSync(script, { force: true }))
  const { stdout } = await promisify(execFile)(process.execPath, [script, serverIds[0]!], { env: { ...process.env, HOME: tempDir(t) } })
  assert.match(stdout.trim().split('\n').at(-1) ?? '', /^az\d-host-\d\d$/)
})
