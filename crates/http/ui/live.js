// Live updates from GET /events. EventSource cannot send the Authorization header, so the
// stream is read with fetch; each CloudEvent is re-dispatched on window as 'bookstore:event'.
// When the stream is down, a refresh on focus keeps screens current ('bookstore:refresh').
import * as api from './api.js';

let controller = null;
let lastId = null;
let retry = 3000;
const indicator = () => document.getElementById('live');

function state(on) {
  const el = indicator();
  if (!el) return;
  el.textContent = on ? 'Live' : 'Offline';
  el.className = `live ${on ? 'on' : 'off'}`;
}

export function stop() {
  controller?.abort();
  controller = null;
  state(false);
}

export function start() {
  if (controller) return;
  controller = new AbortController();
  connect(controller);
}

async function connect(ctl) {
  while (!ctl.signal.aborted) {
    try {
      const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${api.token()}` };
      if (lastId) headers['Last-Event-ID'] = lastId;
      const res = await fetch('/events?types=bookstore.book.created,bookstore.book.updated,bookstore.book.deleted,bookstore.book.stock_adjusted', { headers, signal: ctl.signal, cache: 'no-store' });
      if (res.status === 401) {
        // The access token ran out: a new one, or the sign-in is over.
        try { await api.refresh(); } catch { api.forget(); return; }
      }
      if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
      state(true);
      await read(res.body);
    } catch (err) {
      if (ctl.signal.aborted) return;
    }
    state(false);
    await new Promise((r) => setTimeout(r, retry));
  }
}

async function read(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let data = '';
      let id = null;
      for (const line of block.split('\n')) {
        const [k, ...rest] = line.split(':');
        const v = rest.join(':').replace(/^ /, '');
        if (k === 'data') data += (data ? '\n' : '') + v;
        else if (k === 'id') id = v;
        else if (k === 'retry' && Number(v) > 0) retry = Number(v);
      }
      if (id) lastId = id;
      if (data) {
        try { window.dispatchEvent(new CustomEvent('bookstore:event', { detail: JSON.parse(data) })); } catch { /* not JSON: ignore */ }
      }
    }
  }
}

// Back on the tab: screens reload their data (catches up whatever the stream missed).
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && api.user()) window.dispatchEvent(new Event('bookstore:refresh'));
});
