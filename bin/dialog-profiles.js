#!/usr/bin/env node
// The `dialog-profiles` command (package.json "bin"): runs the CLI from the build
// (`npm run build` writes dist/). Plain JavaScript so that `node` runs it as it is.
import { existsSync } from 'node:fs'

const entry = new URL('../dist/src/cli/main.js', import.meta.url)
if (!existsSync(entry)) {
  process.stderr.write('dialog-profiles: the build is missing (dist/src/cli/main.js): run `npm run build` first\n')
  process.exit(1)
}
const { main } = await import(entry.href)
main()
