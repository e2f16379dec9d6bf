// The run viewer: the runs list, a run's artifacts (a virtual list: only the rows in view
// exist, so a 10,000-artifact run opens as fast as a small one), an artifact's content, its
// lineage graph, and a re-run on the same input.
import { el, getJSON, postEvents, drawGraph, when } from './common.js';

const ROW = 24;
const GRAPH_LIMIT = 150; // a run this small is drawn whole; a larger one around the chosen artifact

const state = { trace: null, byId: null, children: null, selected: -1, cy: null, opening: null, pane: 'lineage' };

async function loadRuns() {
  const list = document.getElementById('run-list');
  try {
    const { runs } = await getJSON('/runs?limit=200');
    list.replaceChildren(...runs.map((run) => el('li', {
      title: run.input_summary, dataset: { run: run.id }, onclick: () => { location.hash = `runs/${run.id}`; },
    }, el('span', { class: `status-${run.status}`, text: '● ' }), el('code', { text: run.id.slice(0, 16) }),
    el('span', { class: 'muted small', text: ` ${run.artifact_count} · ${run.input_summary}` }))));
    if (!runs.length) list.replaceChildren(el('li', { class: 'muted', text: 'no runs yet: ask something in Chat' }));
  } catch (error) {
    list.replaceChildren(el('li', { class: 'status-error', text: error.message }));
  }
}

function renderRows() {
  const box = document.getElementById('artifact-list');
  const spacer = box.firstElementChild;
  const a = state.trace.artifacts;
  const first = Math.max(0, Math.floor(box.scrollTop / ROW) - 5);
  const last = Math.min(a.id.length, first + Math.ceil(box.clientHeight / ROW) + 10);
  const rows = [];
  for (let i = first; i < last; i++) {
    rows.push(el('div', {
      class: `vrow${a.error[i] ? ' error' : ''}${i === state.selected ? ' active' : ''}`, style: `top:${i * ROW}px`,
      dataset: { index: i, id: a.id[i] }, onclick: () => select(i),
    }, el('code', { text: a.id[i].slice(0, 8) }), el('b', { text: `${a.origin[i]}/${a.role[i]} ` }),
    el('span', { class: 'muted', text: `${a.type[i]} ` }), a.preview[i]));
  }
  spacer.replaceChildren(...rows);
}

function neighbourhood(index) {
  // The chosen artifact's ancestors and descendants inside the run, nearest first, at most GRAPH_LIMIT.
  const a = state.trace.artifacts;
  const seen = new Set([index]);
  let frontier = [index];
  while (frontier.length && seen.size < GRAPH_LIMIT) {
    const next = [];
    for (const i of frontier) {
      const near = [...a.parents[i].map((p) => state.byId.get(p)), ...(state.children.get(i) || [])];
      for (const j of near) {
        if (j !== undefined && !seen.has(j) && seen.size < GRAPH_LIMIT) { seen.add(j); next.push(j); }
      }
    }
    frontier = next;
  }
  return [...seen];
}

function showPane(program) {
  state.pane = program ? 'program' : 'lineage';
  document.getElementById('show-lineage').classList.toggle('on', !program);
  document.getElementById('show-program').classList.toggle('on', program);
}

// The run on the graph of its program: each node it visited, green when done, red when its
// latest output was an error (the FSM overlay of a past run).
async function drawProgram() {
  showPane(true);
  const note = document.getElementById('graph-note');
  note.textContent = '';
  try {
    const drawn = await getJSON(`/runs/${encodeURIComponent(state.trace.run.id)}/program`);
    state.cy = drawGraph(document.getElementById('lineage-graph'), drawn.elements, state.cy);
    for (const [node, how] of Object.entries(drawn.visited)) state.cy.getElementById(node).addClass(how);
    const steps = state.cy.nodes('.done, .failed').not('.end, .box, .port'); // the run's path, near enough to read
    if (steps.length) {
      state.cy.fit(steps, 60);
      if (state.cy.zoom() > 1) { state.cy.zoom(1); state.cy.center(steps); }
    }
    note.textContent = drawn.path;
  } catch (error) {
    note.textContent = error.message;
  }
}

function drawLineage(index) {
  showPane(false);
  const began = performance.now();
  const a = state.trace.artifacts;
  const count = a.id.length;
  const shown = count <= GRAPH_LIMIT ? [...Array(count).keys()] : neighbourhood(index);
  const inside = new Set(shown);
  const elements = shown.map((i) => ({
    data: { id: a.id[i], label: `${a.origin[i]}/${a.role[i]}\n${a.preview[i].slice(0, 28)}` },
    classes: a.error[i] ? 'error' : '',
  }));
  for (const i of shown) {
    for (const parent of a.parents[i]) {
      const j = state.byId.get(parent);
      if (j !== undefined && inside.has(j)) elements.push({ data: { id: `${parent}>${a.id[i]}`, source: parent, target: a.id[i], label: '' } });
    }
  }
  state.cy = drawGraph(document.getElementById('lineage-graph'), elements, state.cy);
  state.cy.getElementById(a.id[index]).select();
  state.cy.on('tap', 'node', (event) => select(state.byId.get(event.target.id()), { graph: false }));
  document.body.dataset.graphMs = String(Math.round(performance.now() - began));
}

// The images a request carries (base64 in its JSON), as data: URLs to show.
function attachedImages(art) {
  if (art.text == null || art.truncated || !art.type.endsWith('request+json')) return [];
  try {
    const images = JSON.parse(art.text).images || [];
    // bytes given without a name come as octet-stream: the browser sniffs what an <img> holds
    const shown = (i) => (/^image\/[\w.+-]+$/.test(i.type) ? i.type : 'image/png');
    return images.filter((i) => typeof i.data === 'string').map((i) => `data:${shown(i)};base64,${i.data}`);
  } catch { return []; }
}

async function select(index, { graph = true } = {}) {
  if (index === undefined || index < 0) return;
  state.selected = index;
  renderRows();
  const id = state.trace.artifacts.id[index];
  const loading = getJSON(`/artifacts/${encodeURIComponent(id)}`); // on its way while the graph is drawn
  loading.catch(() => {});
  if (state.pane === 'program') state.cy?.$(':selected').unselect(); // the program's graph stays
  else if (graph || !state.cy) drawLineage(index);
  else { state.cy.$(':selected').unselect(); state.cy.getElementById(id).select(); }
  const detail = document.getElementById('artifact-detail');
  detail.replaceChildren(el('span', { class: 'muted', text: 'loading…' }));
  try {
    const art = await loading;
    const rows = [['id', art.id], ['type', art.type], ['origin / role', `${art.origin} / ${art.role}`], ['size', `${art.size} bytes`],
      ['attributes', Object.entries(art.attributes).map(([k, v]) => `${k}=${v}`).join('  ')],
      ['parents', art.parents.join(' ')], ['children', art.children.join(' ')]];
    const pictures = attachedImages(art).map((src) => el('img', { src, style: 'max-height:160px;margin-right:.4rem' }));
    const content = art.text != null
      ? el('pre', { text: art.text + (art.truncated ? '\n… (cut: open raw for all of it)' : '') })
      : art.type.startsWith('image/') ? el('img', { src: `/ui/api/artifacts/${art.id}/raw`, style: 'max-width:100%' })
        : el('p', { class: 'muted', text: `${art.size} bytes of ${art.type}` });
    detail.replaceChildren(...[
      el('table', {}, ...rows.map(([k, v]) => el('tr', {}, el('td', { class: 'muted', text: k }), el('td', { text: v })))),
      art.error ? el('p', { class: 'status-error', text: art.error }) : null, ...pictures,
      content, el('a', { href: `/ui/api/artifacts/${art.id}/raw`, target: '_blank', text: 'raw' })].filter(Boolean));
  } catch (error) {
    detail.replaceChildren(el('span', { class: 'status-error', text: error.message }));
  }
}

function header(run) {
  const took = run.finished_ns ? ` · took ${((run.finished_ns - run.started_ns) / 1e9).toFixed(2)} s` : '';
  const output = el('span', { class: 'muted' });
  const rerun = el('button', { type: 'button', text: 'Run again with this input', onclick: async () => {
    rerun.disabled = true;
    output.textContent = ' running…';
    try {
      await postEvents(`/runs/${encodeURIComponent(run.id)}/rerun`, {}, (name, data) => {
        if (name === 'step' && data.kind === 'start') output.textContent = ` running ${data.node}…`;
        if (name === 'done') {
          output.replaceChildren(' → ', el('a', { href: `#runs/${data.run_id}`, text: data.run_id }), ` ${data.status}: ${data.answer.slice(0, 80)}`);
          loadRuns();
        }
        if (name === 'error') output.textContent = ` ${data.message}`;
      });
    } catch (error) { output.textContent = ` ${error.message}`; }
    rerun.disabled = false;
  } });
  document.getElementById('run-header').replaceChildren(
    el('b', { text: `run ${run.id} ` }), el('span', { class: `status-${run.status}`, text: run.status }),
    ` · ${when(run.started_ns)} · ${run.artifact_count} artifacts${took} · `, el('code', { text: run.program }), el('br'),
    el('span', { class: 'muted', text: `input: ${run.input_summary} ` }), rerun, output, ...spending(run.usage));
}

function spending(usage) {
  // what the run spent against its policy, as `smol trace` shows it
  if (!usage || !usage.spent) return [];
  const policy = usage.policy || {};
  const figures = ['wall_s', 'cpu_s', 'tokens'].filter((name) => name in usage.spent)
    .map((name) => `${name} ${usage.spent[name]}` + (name in policy ? ` of ${policy[name]}` : ''));
  const shown = [el('br'), el('span', { class: 'muted small', text: `spent: ${figures.join(' · ')}` })];
  if (usage.reason) shown.push(el('br'), el('span', { class: 'status-limit', text: usage.reason }));
  return shown;
}

export async function openRun(runId) {
  if (state.opening === runId) return;
  state.opening = runId;
  const began = performance.now();
  document.body.dataset.traceOpen = 'loading';
  try {
    const trace = await getJSON(`/runs/${encodeURIComponent(runId)}`);
    document.body.dataset.traceFetchMs = String(Math.round(performance.now() - began));
    const a = trace.artifacts;
    state.trace = trace;
    state.byId = new Map(a.id.map((id, i) => [id, i]));
    state.children = new Map();
    a.parents.forEach((parents, i) => parents.forEach((p) => {
      const j = state.byId.get(p);
      if (j !== undefined) (state.children.get(j) || state.children.set(j, []).get(j)).push(i);
    }));
    header(trace.run);
    for (const li of document.querySelectorAll('#run-list li')) li.classList.toggle('active', li.dataset.run === trace.run.id);
    const box = document.getElementById('artifact-list');
    box.firstElementChild.style.height = `${a.id.length * ROW}px`;
    box.scrollTop = 0;
    state.selected = -1;
    state.pane = 'lineage';
    renderRows();
    if (a.id.length) await select(a.id.length - 1);
    document.body.dataset.traceMs = String(Math.round(performance.now() - began));
    document.body.dataset.traceOpen = trace.run.id;
  } catch (error) {
    document.getElementById('run-header').replaceChildren(el('span', { class: 'status-error', text: error.message }));
    document.body.dataset.traceOpen = 'error';
  } finally {
    state.opening = null;
  }
}

export function startRuns() {
  document.getElementById('runs-refresh').addEventListener('click', loadRuns);
  document.getElementById('show-program').addEventListener('click', () => state.trace && drawProgram());
  document.getElementById('show-lineage').addEventListener('click', () => state.trace && drawLineage(Math.max(state.selected, 0)));
  const box = document.getElementById('artifact-list');
  let pending = false;
  box.addEventListener('scroll', () => {
    if (pending || !state.trace) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; renderRows(); });
  });
  return { enter: loadRuns };
}
