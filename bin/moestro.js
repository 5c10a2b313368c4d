#!/usr/bin/env node
// Entry point for the `moestro` command. The CLI itself is TypeScript, compiled to dist/ by `npm ci` (the `prepare` script).
import { runCli } from "../dist/cli/index.js";

await runCli(process.argv);
