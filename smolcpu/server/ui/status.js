// Units, worker processes, models and memory against the budget, live (what `smol status`
// shows), from a server-sent event stream that runs while this tab is open.
import { el, API } from './common.js';

const MB = 1024 * 1024;
let source = null;

function mb(bytes) {
  return `${(bytes / MB).toFixed(0)} MB`;
}

function show(status) {
  const total = status.processes.reduce((sum, p) => sum + (p.total || 0), 0);
  const bar = document.getElementById('status-bar');
  bar.style.width = `${Math.min(100, (100 * total) / status.budget)}%`;
  bar.classList.toggle('over', total > status.budget);
  document.getElementById('status-total').textContent = `${mb(total)} of ${mb(status.budget)} budget`;
  const tables = status.processes.map((p) => el('table', { class: 'grid' },
    el('caption', { text: `smol process ${p.owner} · ${mb(p.total || 0)} (peak ${mb(p.peak || 0)})` }),
    el('tr', {}, ...['unit', 'model', 'pid', 'memory', 'state', 'restarts'].map((h) => el('th', { text: h }))),
    el('tr', {}, el('td', { text: '(main process)' }), el('td'), el('td', { text: String(p.owner) }), el('td', { text: mb(p.main || 0) }), el('td'), el('td')),
    ...(p.workers || []).map((w) => el('tr', {}, el('td', { text: w.unit }), el('td', { text: w.model || '' }), el('td', { text: String(w.pid) }),
      el('td', { text: mb(w.memory || 0) }), el('td', { text: w.alive === false ? 'gone' : w.busy ? 'busy' : 'idle' }), el('td', { text: String(w.restarts || 0) }))),
    ...(p.units || []).filter((u) => !(p.workers || []).some((w) => w.unit === u.name)).map((u) => el('tr', {},
      el('td', { text: u.name }), el('td'), el('td', { text: String(u.pid) }), el('td'), el('td', { text: 'in process' }), el('td')))));
  document.getElementById('status-processes').replaceChildren(
    ...(tables.length ? tables : [el('p', { class: 'muted', text: 'no Smol process holds units now (models load on first use)' })]));
  document.body.dataset.statusUpdates = String(Number(document.body.dataset.statusUpdates || 0) + 1);
}

export function startStatus() {
  return {
    enter: () => {
      if (source) return;
      source = new EventSource(`${API}/status/events`);
      source.addEventListener('status', (event) => show(JSON.parse(event.data)));
    },
    leave: () => {
      source?.close();
      source = null;
    },
  };
}
