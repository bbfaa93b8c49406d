#!/usr/bin/env node
// In a checkout the TypeScript sources run through tsx, so `npx taskflow …` never runs a stale
// build; where there are no sources or no tsx (the image: dist/ and production dependencies
// only) the compiled CLI runs.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/index.ts', import.meta.url);
const tsx = existsSync(sources) ? await import('tsx/esm/api').catch(() => null) : null;
if (tsx) {
  tsx.register();
  await import(sources.href);
} else {
  await import(new URL('../dist/cli/index.js', import.meta.url).href);
}
