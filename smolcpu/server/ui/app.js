// The page: one tab per area, chosen by the address's #fragment (#runs/RUN_ID opens a run).
import { startChat } from './chat.js';
import { startEditor } from './editor.js';
import { startRuns, openRun } from './runs.js';
import { startVault } from './vault.js';
import { startStatus } from './status.js';

const views = { chat: startChat(), editor: startEditor(), runs: startRuns(), vault: startVault(), status: startStatus() };

function show() {
  const [tab, ...rest] = (location.hash.slice(1) || 'chat').split('/');
  const name = tab in views ? tab : 'chat';
  for (const section of document.querySelectorAll('.tab')) section.classList.toggle('active', section.id === name);
  for (const link of document.querySelectorAll('#tabs a')) link.classList.toggle('active', link.dataset.tab === name);
  for (const [key, view] of Object.entries(views)) (key === name ? view.enter : view.leave)?.();
  if (name === 'runs' && rest.length) openRun(decodeURIComponent(rest.join('/')));
}

window.addEventListener('hashchange', show);
show();
document.body.dataset.ready = 'yes';
