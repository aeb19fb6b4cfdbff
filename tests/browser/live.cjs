// Drives Debian's chromium (through playwright-core, no browser download)
// against the page `infragraph up` serves.
//
//   node live.cjs test URL HOST SCREENSHOT   the browser test (exit 1 on failure)
//   node live.cjs latency URL HOST N         connection → edge drawn, N times; prints JSON
//   node live.cjs tti URL N                  time to interactive, N fresh loads; prints JSON
//   node live.cjs drift URL SERVICE N SHOT   the Cloud Map view's edges from SERVICE (an id),
//                                            once N are drawn; prints them and their style as JSON
//
// HOST is the host id `up` maps (its --host-id). The test starts a server
// and a client of its own, sees the client → server edge appear without a
// reload, clicks the server and reads its listening endpoint in the panel.
'use strict';

const { chromium } = require('playwright-core');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const CHROMIUM = process.env.INFRAGRAPH_CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
// Bounds on waits, not timing assertions: a healthy run needs a few seconds.
const PATIENCE_MS = 60_000;

const SERVER = 'import socket\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(64)\nprint(s.getsockname()[1],flush=True)\nkeep=[]\nwhile True:\n  c,_=s.accept()\n  keep.append(c)\n';
const CLIENT = 'import socket,sys,time\nc=socket.create_connection(("127.0.0.1",int(sys.argv[1])))\nprint("connected",flush=True)\ntime.sleep(600)\n';

const children = [];
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

/// A python program; resolves with it and its first line of output.
function python(script, args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const lines = readline.createInterface({ input: child.stdout });
    lines.once('line', (line) => resolve({ child, line: line.trim() }));
    child.once('exit', (code) => reject(new Error(`python exited (${code}) before it was ready`)));
  });
}

async function launch() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'infragraph-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1400, height: 900 },
  });
  const close = async () => { await context.close(); fs.rmSync(profile, { recursive: true, force: true }); };
  return { context, close };
}

async function open(context, url) {
  const page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => window.infragraph && window.infragraph.ready, null, { timeout: PATIENCE_MS });
  return page;
}

/// Waits until the page draws the process `pid` of `host`.
function processDrawn(page, host, pid) {
  return page.waitForFunction(([h, p]) => window.infragraph.cy.nodes().some((n) => n.id().startsWith(`Process:${h}/${p}/`)),
    [host, pid], { timeout: PATIENCE_MS, polling: 'raf' });
}

/// Waits until the page draws an edge from process `from` to `to`.
function edgeDrawn(page, host, from, to) {
  return page.waitForFunction(([h, a, b]) => window.infragraph.cy.edges().some((e) =>
    e.source().id().startsWith(`Process:${h}/${a}/`) && e.target().id().startsWith(`Process:${h}/${b}/`)),
  [host, from, to], { timeout: PATIENCE_MS, polling: 'raf' });
}

/// Where each leaf node (not a box) is drawn, by id.
function positions(page) {
  return page.evaluate(() => Object.fromEntries(window.infragraph.cy.nodes().filter((n) => !n.isParent())
    .map((n) => [n.id(), { ...n.position() }])));
}

/// Opens a connection to the server; resolves with the client and how
/// long after it connected the page drew its edge, in ms.
async function connectAndWait(page, host, server) {
  const client = await python(CLIENT, [server.port]);
  if (client.line !== 'connected') throw new Error(`client said ${client.line}`);
  const opened = Date.now();
  await edgeDrawn(page, host, client.child.pid, server.child.pid);
  return { client, ms: Date.now() - opened };
}

async function startServer(page, host) {
  const server = await python(SERVER);
  server.port = server.line;
  await processDrawn(page, host, server.child.pid);
  return server;
}

async function test(url, host, screenshot) {
  const { context, close } = await launch();
  try {
    const page = await open(context, url);
    // Set on this document only: a reload would lose it.
    await page.evaluate(() => { window.notReloaded = true; });
    const server = await startServer(page, host);
    const before = await positions(page);
    const { client, ms } = await connectAndWait(page, host, server);
    const same = await page.evaluate(() => window.notReloaded === true);
    if (!same) throw new Error('the page reloaded to show the edge');
    console.log(`edge ${client.child.pid} → ${server.child.pid} drawn ${ms} ms after the connection opened, without a reload`);
    // A stable layout: what was drawn before the client appeared has not moved.
    const after = await positions(page);
    const moved = Object.keys(before).filter((id) => id in after && (before[id].x !== after[id].x || before[id].y !== after[id].y));
    if (moved.length) throw new Error(`${moved.length} nodes moved when the client appeared, e.g. ${moved[0]}`);
    console.log(`${Object.keys(before).filter((id) => id in after).length} nodes drawn before the client kept their place`);

    // Click the server where it is drawn, and read its listener in the panel.
    const at = await page.evaluate(([h, p]) => {
      const cy = window.infragraph.cy;
      const node = cy.nodes().filter((n) => n.id().startsWith(`Process:${h}/${p}/`));
      cy.zoom(1.2);
      cy.center(node);
      const r = cy.container().getBoundingClientRect();
      const pos = node.renderedPosition();
      return { x: r.left + pos.x, y: r.top + pos.y };
    }, [host, server.child.pid]);
    await page.mouse.click(at.x, at.y);
    const listener = `127.0.0.1:${server.port}`;
    await page.waitForFunction((l) => {
      const d = document.getElementById('details');
      return d && [...d.querySelectorAll('#neighbours li')].some((li) => li.textContent.includes('LISTENS_ON') && li.textContent.includes(l));
    }, listener, { timeout: PATIENCE_MS });
    const title = await page.textContent('#details h2');
    console.log(`clicked ${title}: its details list LISTENS_ON ${listener}`);
    await page.screenshot({ path: screenshot });
    console.log(`screenshot: ${screenshot}`);
  } finally {
    await close();
  }
}

/// The drift edges leaving one Cloud Map service, as drawn: their set, and
/// the style the page gave them.
async function drift(url, service, n, screenshot) {
  const { context, close } = await launch();
  try {
    const page = await open(context, `${url}/?topology=cloudmap`);
    const source = `CloudMapService:${service}`;
    await page.waitForFunction(([s, k]) => window.infragraph.cy.edges(`[drift]`).filter((e) => e.source().id() === s).length >= k,
      [source, n], { timeout: PATIENCE_MS, polling: 'raf' });
    const edges = await page.evaluate((s) => window.infragraph.cy.edges('[drift]').filter((e) => e.source().id() === s).map((e) => ({
      target: e.target().id(), rel: e.data('rel'), drift: e.data('drift'),
      line_style: e.style('line-style'), line_color: e.style('line-color'), label: e.style('label'),
    })), source);
    const legend = await page.isVisible('#legend');
    await page.screenshot({ path: screenshot });
    console.log(JSON.stringify({ edges, legend }));
  } finally {
    await close();
  }
}

function summary(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  return { n: samples.length, median_ms: median, worst_ms: sorted[sorted.length - 1], best_ms: sorted[0], samples_ms: samples };
}

async function latency(url, host, n) {
  const { context, close } = await launch();
  try {
    const page = await open(context, url);
    const server = await startServer(page, host);
    const samples = [];
    for (let i = 0; i < n; i++) {
      const { ms } = await connectAndWait(page, host, server);
      samples.push(ms);
      // Connections do not all open right after a sync.
      await new Promise((r) => setTimeout(r, 137 * (i % 7)));
    }
    console.log(JSON.stringify(summary(samples)));
  } finally {
    await close();
  }
}

async function tti(url, n) {
  const samples = [];
  let drawn = null;
  for (let i = 0; i < n; i++) {
    const { context, close } = await launch();
    try {
      const page = await open(context, url);
      const t = await page.evaluate(() => ({ ms: window.infragraph.readyAt, nodes: window.infragraph.cy.nodes().length, edges: window.infragraph.cy.edges().length, total: window.infragraph.total }));
      samples.push(Math.round(t.ms));
      drawn = t;
    } finally {
      await close();
    }
  }
  console.log(JSON.stringify({ ...summary(samples), drawn_nodes: drawn.nodes, drawn_edges: drawn.edges, graph_nodes: drawn.total }));
}

async function main() {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'test' && args.length === 3) return test(...args);
  if (mode === 'latency' && args.length === 3) return latency(args[0], args[1], Number(args[2]));
  if (mode === 'tti' && args.length === 2) return tti(args[0], Number(args[1]));
  if (mode === 'drift' && args.length === 4) return drift(args[0], args[1], Number(args[2]), args[3]);
  throw new Error('usage: live.cjs test URL HOST SCREENSHOT | latency URL HOST N | tti URL N | drift URL SERVICE N SCREENSHOT');
}

main().then(() => process.exit(0), (e) => { console.error(`browser test failed: ${e.stack || e}`); process.exit(1); });
