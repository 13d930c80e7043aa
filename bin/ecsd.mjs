#!/usr/bin/env node
// The installed `ecsd` command (`npx ecsd …` in the checkout, `ecsd …` after `npm install -g`):
// ecsd ships its TypeScript sources and runs them through tsx, as `npm start` does.
import { register } from 'tsx/esm/api'

register()
await import('../src/main.ts')
