// The live topology view: draws a topology from /api/topology/{name},
// follows /api/events and applies each new view as a diff, so nodes that
// were drawn keep their place and new ones take the next free slot of the
// box they belong to (a host, a Cloud Map service). No configuration.
import cytoscape from 'cytoscape';

const params = new URLSearchParams(location.search);
const state = {
  topology: params.get('topology') || 'processes',
  search: params.get('q') || '',
  label: params.get('label') || '',
  extra: ['limit', 'aggregate', 'host'].filter((k) => params.has(k)).map((k) => [k, params.get(k)]),
  loading: false,
  again: false,
  selected: null,
};

// What tests and benchmarks read: the graph, whether the first view is
// drawn, and how many views were applied.
const probe = { cy: null, ready: false, applied: 0, lastView: null };
window.infragraph = probe;

const $ = (id) => document.getElementById(id);

const COLOURS = {
  Host: '#e9edf5', Process: '#3d7eff', ProcessGroup: '#6f5bd6', Endpoint: '#8a94a8',
  CloudMapNamespace: '#fff4e0', CloudMapService: '#ffe2b8', CloudMapInstance: '#f08c00',
  GitHubOrganization: '#24292f', GitHubRepository: '#2da44e', GitHubTeam: '#bf8700',
  GitHubUser: '#8250df', ProgrammingLanguage: '#cf222e',
};

const DRIFT = { confirmed: '#2da44e', stale: '#bf8700', undeclared: '#cf222e' };

const cy = cytoscape({
  container: $('graph'),
  wheelSensitivity: 0.3,
  // Panning and zooming a large view move a snapshot, not every element.
  textureOnViewport: true,
  hideEdgesOnViewport: true,
  minZoom: 0.05,
  maxZoom: 4,
  style: [
    { selector: 'node', style: {
      'background-color': (n) => COLOURS[n.data('kind')] || '#777',
      label: 'data(name)', 'font-size': 10, 'text-valign': 'bottom', 'text-margin-y': 3,
      width: (n) => 16 + Math.min(24, 4 * Math.log2(n.data('count') || 1)),
      height: (n) => 16 + Math.min(24, 4 * Math.log2(n.data('count') || 1)),
      'text-max-width': 90, 'text-wrap': 'ellipsis',
      // Labels too small to read are not drawn: a large view stays fast.
      'min-zoomed-font-size': 7,
    } },
    { selector: ':parent', style: {
      'background-opacity': 1, 'border-color': '#b9c2d3', 'border-width': 1, shape: 'round-rectangle',
      'text-valign': 'top', 'text-halign': 'center', 'font-size': 12, 'font-weight': 600, padding: 14,
    } },
    { selector: 'edge', style: {
      width: (e) => Math.min(6, 1 + Math.log2(e.data('count') || 1)), 'line-color': '#8f9bb3',
      'target-arrow-color': '#8f9bb3', 'target-arrow-shape': 'triangle', 'curve-style': 'bezier', 'arrow-scale': 0.8,
    } },
    // Dependencies between Cloud Map services, by drift set: traffic
    // confirms it, nothing uses it, or nobody declared it.
    { selector: 'edge[drift]', style: {
      label: 'data(drift)', 'font-size': 9, color: '#5b6478', 'text-background-color': '#fff',
      'text-background-opacity': 0.8, 'text-rotation': 'autorotate', width: 2.5,
    } },
    { selector: 'edge[drift = "confirmed"]', style: { 'line-color': DRIFT.confirmed, 'target-arrow-color': DRIFT.confirmed } },
    { selector: 'edge[drift = "stale"]', style: { 'line-color': DRIFT.stale, 'target-arrow-color': DRIFT.stale, 'line-style': 'dashed' } },
    { selector: 'edge[drift = "undeclared"]', style: {
      'line-color': DRIFT.undeclared, 'target-arrow-color': DRIFT.undeclared, 'line-style': 'dotted', width: 3,
    } },
    { selector: 'node:selected', style: { 'border-width': 3, 'border-color': '#ff8a00' } },
    { selector: '.fresh', style: { 'line-color': '#39d98a', 'target-arrow-color': '#39d98a' } },
  ],
});
probe.cy = cy;

// ---------------------------------------------------------------------
// Placement: boxes in rows, each box's leaves in a grid of slots. A slot,
// once given, is kept; a new leaf takes its box's next slot.

const SLOT = 80;
const place = { boxes: new Map(), cursor: { x: 0, y: 0, rowHeight: 0 }, width: 1600 };

function resetPlacement(leafCount) {
  place.boxes.clear();
  place.cursor = { x: 0, y: 0, rowHeight: 0 };
  place.width = Math.max(1200, Math.sqrt(Math.max(1, leafCount)) * SLOT * 1.6);
}

function boxFor(key, expected) {
  let box = place.boxes.get(key);
  if (!box) {
    const cols = Math.max(1, Math.ceil(Math.sqrt(Math.max(1, expected))));
    const rows = Math.max(1, Math.ceil(expected / cols));
    const w = cols * SLOT + 2 * SLOT;
    const c = place.cursor;
    if (c.x > 0 && c.x + w > place.width) {
      c.x = 0;
      c.y += c.rowHeight + SLOT;
      c.rowHeight = 0;
    }
    box = { x: c.x, y: c.y, cols, next: 0 };
    c.x += w;
    c.rowHeight = Math.max(c.rowHeight, (rows + 1) * SLOT);
    place.boxes.set(key, box);
  }
  return box;
}

function slotIn(key, expected) {
  const box = boxFor(key, expected);
  const i = box.next++;
  return { x: box.x + (i % box.cols) * SLOT, y: box.y + Math.floor(i / box.cols) * SLOT };
}

// ---------------------------------------------------------------------
// Applying a view as a diff.

function leavesByBox(view) {
  const parents = new Set(view.nodes.map((n) => n.parent).filter(Boolean));
  const byBox = new Map();
  for (const n of view.nodes) {
    if (parents.has(n.id)) continue;
    const key = n.parent || '(top)';
    if (!byBox.has(key)) byBox.set(key, []);
    byBox.get(key).push(n);
  }
  for (const list of byBox.values()) list.sort((a, b) => (a.kind + a.name + a.id).localeCompare(b.kind + b.name + b.id));
  return { parents, byBox };
}

function nodeData(n) {
  return { id: n.id, kind: n.kind, name: n.name, detail: n.detail, count: n.count, node: n.node, parent: n.parent };
}

function apply(view, fresh) {
  const { parents, byBox } = leavesByBox(view);
  if (fresh) {
    cy.elements().remove();
    resetPlacement(view.nodes.length);
  }
  const wanted = new Set(view.nodes.map((n) => n.id));
  const wantedEdges = new Set(view.edges.map((e) => e.id));
  cy.batch(() => {
    cy.edges().filter((e) => !wantedEdges.has(e.id())).remove();
    cy.nodes().filter((n) => !wanted.has(n.id())).remove();
    // Boxes first, outermost first, so children can name them.
    const boxes = view.nodes.filter((n) => parents.has(n.id));
    const depth = (n) => { let d = 0; let p = n.parent; const seen = new Set(); while (p && !seen.has(p)) { seen.add(p); d++; p = (view.nodes.find((m) => m.id === p) || {}).parent; } return d; };
    boxes.sort((a, b) => depth(a) - depth(b));
    for (const n of boxes) upsertNode(n, null);
    for (const [key, leaves] of byBox) {
      for (const n of leaves) upsertNode(n, () => slotIn(key, leaves.length));
    }
    for (const e of view.edges) {
      const existing = cy.getElementById(e.id);
      if (existing.nonempty()) { existing.data({ count: e.count, drift: e.drift }); continue; }
      const data = { id: e.id, source: e.source, target: e.target, rel: e.rel, count: e.count };
      if (e.drift) data.drift = e.drift;
      cy.add({ group: 'edges', data });
      if (!fresh) {
        const added = cy.getElementById(e.id).addClass('fresh');
        setTimeout(() => added.removeClass('fresh'), 3000);
      }
    }
  });
  if (fresh) cy.fit(undefined, 30);
  $('legend').hidden = !view.edges.some((e) => e.drift);
  probe.applied++;
  probe.lastView = { nodes: view.nodes.length, edges: view.edges.length, at: performance.now() };
  notice(view);
}

function upsertNode(n, slot) {
  const existing = cy.getElementById(n.id);
  if (existing.nonempty()) {
    existing.data({ name: n.name, detail: n.detail, count: n.count, node: n.node });
    const parent = existing.data('parent') || null;
    if ((n.parent || null) !== parent && (!n.parent || cy.getElementById(n.parent).nonempty())) existing.move({ parent: n.parent || null });
    return;
  }
  const data = nodeData(n);
  if (data.parent && cy.getElementById(data.parent).empty()) delete data.parent;
  const el = { group: 'nodes', data };
  if (slot) el.position = slot();
  cy.add(el);
}

function notice(view) {
  const parts = [];
  if (view.aggregated) parts.push(`${view.total_nodes} nodes, grouped by ${view.aggregated}`);
  if (view.truncated) parts.push('not everything is drawn: narrow the search');
  $('notice').hidden = parts.length === 0;
  $('notice').textContent = parts.join('; ');
}

// ---------------------------------------------------------------------
// Loading, coalesced: one request in flight, one more queued at most.

function topologyUrl() {
  const q = new URLSearchParams(state.extra);
  if (state.search) q.set('q', state.search);
  if (state.label) q.set('label', state.label);
  const s = q.toString();
  return `/api/topology/${encodeURIComponent(state.topology)}${s ? `?${s}` : ''}`;
}

async function load(fresh) {
  if (state.loading) { state.again = true; state.againFresh = state.againFresh || fresh; return; }
  state.loading = true;
  try {
    const res = await fetch(topologyUrl());
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.statusText);
    apply(body, fresh || cy.elements().empty());
    fillLabels(body);
    if (!probe.ready) {
      // Drawn and taking clicks: what the time-to-interactive benchmark reads.
      await new Promise((r) => requestAnimationFrame(() => r()));
      probe.readyAt = performance.now();
      probe.total = body.total_nodes;
      probe.ready = true;
      document.body.dataset.ready = 'true';
    }
  } catch (e) {
    $('notice').hidden = false;
    $('notice').textContent = `cannot load the ${state.topology} view: ${e.message}`;
  } finally {
    state.loading = false;
    if (state.again) { const f = state.againFresh; state.again = false; state.againFresh = false; load(f); }
  }
}

function fillLabels(view) {
  const select = $('label');
  const have = new Set([...select.options].map((o) => o.value));
  for (const kind of new Set(view.nodes.map((n) => n.kind))) {
    if (!have.has(kind) && kind !== 'ProcessGroup') select.add(new Option(kind, kind));
  }
}

// ---------------------------------------------------------------------
// Details of a clicked node.

function when(ms) {
  if (ms == null) return '—';
  const ago = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return `${new Date(ms).toISOString()} (${ago}s ago)`;
}

function el(tag, text, attrs = {}) {
  const e = document.createElement(tag);
  if (text != null) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function row(table, k, v) {
  const tr = table.insertRow();
  tr.insertCell().textContent = k;
  tr.insertCell().textContent = Array.isArray(v) ? v.join(', ') : String(v);
}

async function showDetails(key) {
  state.selected = key;
  const panel = $('details');
  const res = await fetch(`/api/node?label=${encodeURIComponent(key.label)}&id=${encodeURIComponent(key.id)}`);
  const d = await res.json();
  if (state.selected !== key) return;
  panel.replaceChildren();
  if (!res.ok) { panel.append(el('p', d.error, { class: 'hint' })); return; }
  panel.append(el('div', d.label, { class: 'kind' }), el('h2', d.name));
  const t = el('table', null, { id: 'properties' });
  row(t, 'id', d.id);
  row(t, 'firstseen', when(d.firstseen));
  row(t, 'lastupdated', when(d.lastupdated));
  for (const [k, v] of Object.entries(d.properties)) row(t, k, v);
  panel.append(t, el('h3', `Neighbours (${d.neighbours.length}${d.truncated ? '+' : ''})`));
  const ul = el('ul', null, { id: 'neighbours' });
  for (const n of d.neighbours) {
    const li = el('li');
    const arrow = n.direction === 'out' ? `${n.rel} →` : `← ${n.rel}`;
    const a = el('a', `${n.label} ${n.name}`);
    a.addEventListener('click', () => showDetails({ label: n.label, id: n.id }));
    li.append(`${arrow} `, a);
    if (n.name !== n.id) li.append(el('div', n.id, { class: 'hint' }));
    ul.append(li);
  }
  panel.append(ul);
}

cy.on('tap', 'node', (evt) => {
  const key = evt.target.data('node');
  if (key) showDetails(key);
});

// ---------------------------------------------------------------------
// Controls and the event stream.

async function setUp() {
  $('search').value = state.search;
  const res = await fetch('/api/topologies');
  const body = await res.json();
  const nav = $('topologies');
  for (const t of body.topologies) {
    const b = el('button', t.title, { title: t.description, 'data-topology': t.name, 'aria-pressed': String(t.name === state.topology) });
    b.addEventListener('click', () => {
      state.topology = t.name;
      for (const other of nav.children) other.setAttribute('aria-pressed', String(other === b));
      load(true);
    });
    nav.append(b);
  }
  $('status').textContent = body.store;
  let typing;
  $('search').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.search = $('search').value.trim(); load(false); }, 250);
  });
  $('label').addEventListener('change', () => { state.label = $('label').value; load(false); });
  await load(true);
  follow(body.store);
}

function follow(store) {
  const events = new EventSource('/api/events');
  events.addEventListener('ready', () => { $('status').textContent = `${store}, live`; $('status').className = 'live'; load(false); });
  events.addEventListener('change', () => load(false));
  events.onerror = () => { $('status').textContent = `${store}, reconnecting…`; $('status').className = ''; };
}

setUp();
