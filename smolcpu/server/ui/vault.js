// The memory vault: its notes, the graph of their links, and a note's text with its links
// and backlinks (shown as text: a note is never run as HTML here).
import { el, getJSON, drawGraph } from './common.js';

const state = { cy: null };

async function openNote(name) {
  const detail = document.getElementById('note-detail');
  try {
    const note = await getJSON(`/vault/notes/${name.split('/').map(encodeURIComponent).join('/')}`);
    detail.replaceChildren(...[
      el('h3', { text: note.name }),
      note.tags.length ? el('div', { class: 'muted', text: note.tags.map((t) => `#${t}`).join(' ') }) : null,
      note.problem ? el('p', { class: 'status-error', text: note.problem }) : null,
      el('pre', { text: note.text }),
      el('div', { class: 'small' }, 'links: ', ...note.links.map((l) => l.target
        ? el('button', { class: 'link', type: 'button', text: l.target, onclick: () => openNote(l.target) })
        : el('span', { class: 'muted', text: `${l.text} (unresolved) ` }))),
      el('div', { class: 'small' }, 'backlinks: ', ...note.backlinks.map((b) => el('button', {
        class: 'link', type: 'button', text: b, onclick: () => openNote(b) })))].filter(Boolean));
    state.cy?.$(':selected').unselect();
    state.cy?.getElementById(note.name).select();
  } catch (error) {
    detail.replaceChildren(el('span', { class: 'status-error', text: error.message }));
  }
}

async function load() {
  const list = document.getElementById('note-list');
  try {
    const vault = await getJSON('/vault');
    document.getElementById('vault-root').textContent = vault.root;
    list.replaceChildren(...vault.notes.map((note) => el('li', {
      text: note.name, title: note.tags.join(' '), onclick: () => openNote(note.name) })));
    if (!vault.notes.length) list.replaceChildren(el('li', { class: 'muted', text: 'no notes yet' }));
    const elements = [
      ...vault.notes.map((note) => ({ data: { id: note.name, label: note.name } })),
      ...vault.edges.map((e) => ({ data: { id: `${e.source}>${e.target}`, source: e.source, target: e.target, label: e.count > 1 ? String(e.count) : '' } })),
    ];
    state.cy = drawGraph(document.getElementById('note-graph'), elements, state.cy, { name: 'cose', animate: false, padding: 20 });
    state.cy.on('tap', 'node', (event) => openNote(event.target.id()));
    document.body.dataset.vaultNotes = String(vault.notes.length);
  } catch (error) {
    list.replaceChildren(el('li', { class: 'status-error', text: error.message }));
  }
}

export function startVault() {
  return { enter: load };
}
