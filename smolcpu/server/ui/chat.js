// Chat threads: kept in this browser (localStorage), each message answered by the default
// program with the turns before it as history. The answer streams token by token (the LLM
// steps' text, under the step that writes it) and the final answer replaces it when the run
// ends. "Branch" on any message starts a new thread from the turns up to it. Images are
// attached by dropping them on the chat (or with the Image button).
import { el, postEvents } from './common.js';

const KEY = 'smol.threads';
const state = { threads: [], current: null, images: [], busy: false };

function save() {
  try {
    localStorage.setItem(KEY, JSON.stringify({ threads: state.threads, current: state.current }));
  } catch { // over the browser's quota: keep the threads, drop the images
    const threads = state.threads.map((t) => ({ ...t, messages: t.messages.map(({ images, ...m }) => m) }));
    localStorage.setItem(KEY, JSON.stringify({ threads, current: state.current }));
  }
}

function load() {
  try {
    const kept = JSON.parse(localStorage.getItem(KEY) || '{}');
    state.threads = kept.threads || [];
    state.current = kept.current || null;
  } catch { state.threads = []; }
  if (!state.threads.length) newThread();
}

function thread() {
  return state.threads.find((t) => t.id === state.current) || state.threads[0];
}

function newThread(messages = [], title = 'New thread') {
  const made = { id: `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`, title, messages };
  state.threads.unshift(made);
  state.current = made.id;
  save();
  return made;
}

function branch(index) {
  const from = thread();
  const kept = from.messages.slice(0, index + 1).map((m) => ({ ...m }));
  let draft = '';
  if (kept.length && kept[kept.length - 1].role === 'user') draft = kept.pop().content;
  newThread(kept, `${from.title} ↳ branch`);
  render();
  const input = document.getElementById('chat-input');
  input.value = draft;
  input.focus();
}

function messageView(message, index) {
  const body = el('div', { class: 'text', text: message.content });
  const meta = el('div', { class: 'meta' },
    message.run_id ? el('a', { href: `#runs/${message.run_id}`, text: `run ${message.run_id.slice(0, 12)}` }) : null,
    message.seconds != null ? el('span', { text: `${message.seconds.toFixed(1)} s · ${message.tokens} tokens` }) : null,
    el('button', { class: 'link', type: 'button', text: 'branch from here', onclick: () => branch(index) }));
  const images = (message.images || []).map((src) => el('img', { src, alt: 'attached image' }));
  return el('div', { class: `message ${message.role}`, dataset: { index } }, ...images, body, meta);
}

function render() {
  const current = thread();
  document.getElementById('threads').replaceChildren(...state.threads.map((t) => el('li', {
    class: t.id === current.id ? 'active' : '', text: t.title,
    onclick: () => { state.current = t.id; save(); render(); },
  })));
  const box = document.getElementById('messages');
  box.replaceChildren(...current.messages.map(messageView));
  box.scrollTop = box.scrollHeight;
}

function attach(files) {
  for (const file of files) {
    if (!file.type.startsWith('image/')) continue;
    const reader = new FileReader();
    reader.onload = () => {
      state.images.push({ name: file.name, data: reader.result });
      renderAttachments();
    };
    reader.readAsDataURL(file);
  }
}

function renderAttachments() {
  document.getElementById('attachments').replaceChildren(...state.images.map((image, i) => el('img', {
    src: image.data, title: `${image.name} (click to remove)`, onclick: () => { state.images.splice(i, 1); renderAttachments(); },
  })));
}

async function send(text) {
  if (state.busy || (!text.trim() && !state.images.length)) return;
  const current = thread();
  const history = current.messages.filter((m) => m.content).map((m) => ({ role: m.role, content: m.content }));
  const images = state.images;
  state.images = [];
  renderAttachments();
  if (!current.messages.length) current.title = text.slice(0, 40) || 'image';
  current.messages.push({ role: 'user', content: text, images: images.map((i) => i.data) });
  save();
  render();
  const box = document.getElementById('messages');
  const work = el('div', { class: 'work' });
  const answer = el('div', { class: 'text answer' });
  const status = el('div', { class: 'meta', text: 'thinking…' });
  const bubble = el('div', { class: 'message assistant streaming' }, work, answer, status);
  box.append(bubble);
  state.busy = true;
  document.getElementById('chat-send').disabled = true;
  let node = null;
  let streamed = '';
  const reply = { role: 'assistant', content: '' };
  try {
    await postEvents('/chat', { message: text, history, images }, (name, data) => {
      if (name === 'token') {
        if (data.node !== node) {
          node = data.node;
          streamed = '';
          work.append(el('div', { class: 'muted', text: `— ${node}` }));
        }
        streamed += data.text;
        answer.textContent = streamed;
        document.body.dataset.chatTokens = String(Number(document.body.dataset.chatTokens || 0) + 1);
        box.scrollTop = box.scrollHeight;
      } else if (name === 'step') {
        if (data.kind === 'start') status.textContent = `running ${data.node} (${data.unit || data.worker})…`;
        if (data.kind === 'end' && data.unit !== 'llm') work.append(el('div', { text: `${data.node}: ${data.preview}` }));
      } else if (name === 'done') {
        Object.assign(reply, { content: data.answer, run_id: data.run_id, seconds: data.seconds, tokens: data.tokens, status: data.status });
      } else if (name === 'error') {
        reply.content = `⚠ ${data.message}`;
      }
    });
  } catch (error) {
    reply.content = `⚠ ${error.message}`;
  }
  current.messages.push(reply);
  save();
  state.busy = false;
  document.getElementById('chat-send').disabled = false;
  render();
}

export function startChat() {
  load();
  const form = document.getElementById('chat-form');
  const input = document.getElementById('chat-input');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value;
    input.value = '';
    send(text);
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
  document.getElementById('new-thread').addEventListener('click', () => { newThread(); render(); });
  document.getElementById('chat-file').addEventListener('change', (event) => attach(event.target.files));
  const drop = document.getElementById('chat-drop');
  drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('dragging'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('dragging'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('dragging');
    attach(event.dataTransfer.files);
  });
  render();
  return {};
}
