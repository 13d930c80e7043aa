/**
 * Builds the dashboard (`npm run build:dashboard`; `npm ci` runs it through `prepare`):
 * type-checks dashboard/ with its own tsconfig (DOM types, Preact's JSX), then bundles it with
 * Vite into dashboard/dist, which `GET /dashboard` serves. With `--if-possible` (the `prepare`
 * hook) an install without dev dependencies skips the build with a note instead of failing;
 * /dashboard then says how to build it.
 */
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const dashboard = path.join(root, 'dashboard')

const require = createRequire(import.meta.url)
const installed = (name: string) => {
  try {
    require.resolve(`${name}/package.json`)
    return true
  } catch {
    return false
  }
}

if (!['vite', 'preact', 'typescript'].every(installed)) {
  const message = 'build-dashboard: vite, preact or typescript is not installed (an install without dev dependencies?)'
  if (process.argv.includes('--if-possible')) {
    process.stderr.write(`${message}; the dashboard is not built. Run \`npm install\` and \`npm run build:dashboard\` to build it.\n`)
    process.exit(0)
  }
  process.stderr.write(`${message}.\n`)
  process.exit(1)
}

const typecheck = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--noEmit', '-p', dashboard], { stdio: 'inherit' })
if (typecheck.status !== 0) process.exit(typecheck.status ?? 1)

const { build } = await import('vite')
await build({
  configFile: false,
  root: dashboard,
  base: '/dashboard/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Browsers that run ES2022 modules; the page is for operators, not the public.
    target: 'es2022',
    // The polyfill would be an inline script, which the page's Content-Security-Policy refuses.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
})
process.stdout.write(`build-dashboard: built ${path.relative(root, path.join(dashboard, 'dist'))}\n`)
