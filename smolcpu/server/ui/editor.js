// The program editor: diagnostics as you type (the checker behind `smol check`), the compiled
// graph drawn beside it, and a run whose steps light up in the graph as they start and end.
import { el, getJSON, postJSON, postEvents, drawGraph } from './common.js';

const state = { cy: null, drawn: '', timer: null, checking: 0, running: false };

function gutter(lines, bad) {
  const rows = [];
  for (let n = 1; n <= lines; n++) rows.push(bad.has(n) ? el('span', { class: 'bad', text: `${n}\n` }) : `${n}\n`);
  document.getElementById('gutter').replaceChildren(...rows);
}

function goTo(line, column) {
  const source = document.getElementById('source');
  const lines = source.value.split('\n');
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
  offset += Math.max(column - 1, 0);
  source.focus();
  source.setSelectionRange(offset, offset);
}

async function check() {
  const source = document.getElementById('source').value;
  const ticket = ++state.checking;
  let result;
  try {
    result = await postJSON('/check', { source });
  } catch (error) {
    document.getElementById('check-summary').textContent = error.message;
    return;
  }
  if (ticket !== state.checking) return; // a newer check is on its way
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  const summary = document.getElementById('check-summary');
  summary.textContent = `${errors.length} error(s), ${result.diagnostics.length - errors.length} warning(s)`;
  summary.className = errors.length ? 'status-error' : 'status-ok';
  document.getElementById('diagnostics').replaceChildren(...result.diagnostics.map((d) => el('li', {
    class: d.severity, onclick: () => goTo(d.line, d.column),
    text: `${d.line}:${d.column} ${d.severity}[${d.code}]: ${d.message}${d.hint ? ` — ${d.hint}` : ''}`,
  })));
  gutter(source.split('\n').length, new Set(errors.map((d) => d.line)));
  const drawn = JSON.stringify(result.elements);
  if (result.elements.length && drawn !== state.drawn) {
    state.drawn = drawn;
    state.cy = drawGraph(document.getElementById('program-graph'), result.elements, state.cy);
  }
  document.body.dataset.checked = String(ticket);
}

function scheduleCheck() {
  clearTimeout(state.timer);
  state.timer = setTimeout(check, 250);
  gutter(document.getElementById('source').value.split('\n').length, new Set());
}

function mark(node, cls) {
  if (!state.cy) return;
  const found = state.cy.getElementById(node);
  found.removeClass('running done failed');
  if (cls) found.addClass(cls);
}

async function run(event) {
  event.preventDefault();
  if (state.running) return;
  state.running = true;
  const button = document.getElementById('run-button');
  button.disabled = true;
  const output = document.getElementById('run-output');
  output.replaceChildren();
  state.cy?.nodes().removeClass('running done failed chosen');
  let node = null;
  try {
    await postEvents('/programs/run', { source: document.getElementById('source').value, input: document.getElementById('run-input').value }, (name, data) => {
      if (name === 'step') {
        if (data.kind === 'start') mark(data.node, 'running');
        else if (data.kind === 'end') mark(data.node, data.outcome.endsWith('!') || data.outcome === 'failed' ? 'failed' : 'done');
        else if (data.kind === 'choose') state.cy?.getElementById(data.node).addClass('chosen');
        document.body.dataset.lastStep = `${data.kind}:${data.node}`;
      } else if (name === 'token') {
        if (data.node !== node) { node = data.node; output.append(el('div', { class: 'muted', text: `— ${node}` })); }
        output.append(data.text);
      } else if (name === 'done') {
        output.append(el('div', {}, el('b', { class: `status-${data.status}`, text: `${data.status}: ` }), data.answer, ' ',
          el('a', { href: `#runs/${data.run_id}`, text: `(run ${data.run_id})` })));
      } else if (name === 'error') {
        output.append(el('div', { class: 'status-error', text: data.message }));
      }
    });
  } catch (error) {
    output.append(el('div', { class: 'status-error', text: error.message }));
  }
  state.running = false;
  button.disabled = false;
}

export function startEditor() {
  const source = document.getElementById('source');
  source.addEventListener('input', scheduleCheck);
  source.addEventListener('scroll', () => { document.getElementById('gutter').scrollTop = source.scrollTop; });
  document.getElementById('run-form').addEventListener('submit', run);
  const select = document.getElementById('program-select');
  select.addEventListener('change', async () => {
    if (!select.value) return;
    const { source: text } = await getJSON(`/programs/${encodeURIComponent(select.value)}`);
    source.value = text;
    check();
  });
  let loaded = false;
  return {
    enter: async () => {
      if (loaded) return;
      loaded = true;
      const { programs } = await getJSON('/programs');
      select.append(...programs.map((name) => el('option', { value: name, text: name })));
      if (source.value) check();
    },
    leave: () => {},
  };
}
