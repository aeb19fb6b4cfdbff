// Builds the page into ui/dist: one bundled, minified app.js (the
// application and Cytoscape.js), app.css and index.html. The Rust crate
// embeds dist/ (graph-reader/src/api/assets.rs). Run through scripts/ui-build.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

mkdirSync('dist', { recursive: true });
await build({
  entryPoints: ['src/app.js'],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  legalComments: 'none',
  outfile: 'dist/app.js',
});
copyFileSync('src/index.html', 'dist/index.html');
copyFileSync('src/app.css', 'dist/app.css');
