// What every view shares: building elements, asking the API, reading server-sent events
// from a POST, and drawing a graph with Cytoscape.js and the dagre layout (vendored).

export const API = '/ui/api';

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

async function failure(response) {
  const body = await response.json().catch(() => ({ detail: response.statusText }));
  const detail = typeof body.detail === 'string' ? body.detail
    : (body.detail || []).map((d) => `${(d.loc || []).join('.')}: ${d.msg}`).join('; ');
  return new Error(detail || `HTTP ${response.status}`);
}

export async function getJSON(path) {
  const response = await fetch(API + path);
  if (!response.ok) throw await failure(response);
  return response.json();
}

export async function postJSON(path, body) {
  const response = await fetch(API + path, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  return response.json();
}

// POST and call onEvent(name, data) for each server-sent event of the response's body.
export async function postEvents(path, body, onEvent, signal) {
  const response = await fetch(API + path, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), signal,
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) name = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      onEvent(name, JSON.parse(data));
    }
  }
}

export function when(ns) {
  return ns ? new Date(ns / 1e6).toLocaleString() : '—';
}

let dagreRegistered = false;

const GRAPH_STYLE = [
  { selector: 'node', style: { label: 'data(label)', 'font-size': 10, 'text-wrap': 'wrap', 'text-valign': 'center',
    'text-halign': 'center', shape: 'round-rectangle', width: 'label', height: 'label', padding: 6,
    'background-color': '#eef2fb', 'border-width': 1, 'border-color': '#9aa8c7' } },
  { selector: 'node.box', style: { 'text-valign': 'top', 'text-halign': 'center', 'background-opacity': 0.04,
    'border-style': 'dashed', 'font-size': 9, color: '#6b7385', padding: 8 } },
  { selector: 'node.port', style: { width: 8, height: 8, shape: 'ellipse', label: '', 'background-color': '#9aa8c7' } },
  { selector: 'node.case', style: { shape: 'diamond', 'background-color': '#fff7e6', padding: 10 } },
  { selector: 'node.end', style: { shape: 'ellipse', 'background-color': '#fff' } },
  { selector: 'node.cancel', style: { shape: 'octagon', 'border-color': '#d64545' } },
  { selector: 'node.error', style: { 'border-color': '#d64545', color: '#d64545' } },
  { selector: 'node.running', style: { 'background-color': '#f0a020', 'border-color': '#b87400', 'border-width': 3 } },
  { selector: 'node.done', style: { 'background-color': '#c9ecd6', 'border-color': '#1f9d55' } },
  { selector: 'node.failed', style: { 'background-color': '#f7d0d0', 'border-color': '#d64545' } },
  { selector: 'node.chosen', style: { 'border-color': '#2f6fed', 'border-width': 3 } },
  { selector: 'node:selected', style: { 'border-color': '#2f6fed', 'border-width': 3 } },
  { selector: 'edge', style: { width: 1, 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', 'arrow-scale': 0.7,
    'line-color': '#9aa8c7', 'target-arrow-color': '#9aa8c7', label: 'data(label)', 'font-size': 8, color: '#6b7385',
    'text-background-color': '#fff', 'text-background-opacity': 1 } },
  { selector: 'edge.control', style: { 'line-style': 'dashed' } },
  { selector: 'edge.ref', style: { 'line-style': 'dotted' } },
];

const DAGRE = { name: 'dagre', rankDir: 'TB', nodeSep: 18, rankSep: 28, animate: false, fit: true, padding: 12 };

// Draw elements into container (replacing the previous drawing); the Cytoscape instance.
export function drawGraph(container, elements, previous, layout = DAGRE) {
  if (previous) previous.destroy();
  if (!dagreRegistered) {
    cytoscape.use(cytoscapeDagre);
    dagreRegistered = true;
  }
  const cy = cytoscape({
    container, elements, layout, style: GRAPH_STYLE, wheelSensitivity: 0.3, minZoom: 0.05, maxZoom: 1.5,
  });
  container.cy = cy; // for tests and the browser's console
  return cy;
}
