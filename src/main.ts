/** The `ecsd` command (`npm run ecsd -- …`, `npx ecsd …`, `ecsd …` once installed): see src/cli/program.ts. */
import { runCli } from './cli/program.ts'

await runCli(process.argv)
