// Import (admins: upload a CSV or ONIX file, follow its progress, see the rejected rows) and
// export (everyone: the catalogue as CSV or NDJSON).
import * as api from '../api.js';
import { h, replace, field, download, toast, fmtDate } from '../dom.js';
import { go } from '../app.js';
import { table } from './book.js';

export async function render(main, [id]) {
  const parts = [h('h1', 'Import and export')];
  if (api.isAdmin()) parts.push(id ? await progress(id) : uploadForm());
  parts.push(exportForm());
  replace(main, ...parts);
  return () => { stopped = true; };
}

let stopped = false;

function uploadForm() {
  const file = h('input', { type: 'file', name: 'file', accept: '.csv,text/csv,.xml,application/xml', required: true });
  const mode = h('select', { name: 'mode' }, h('option', { value: 'upsert' }, 'Create and update (by ISBN)'), h('option', { value: 'create_only' }, 'Create only'));
  const dry = h('input', { type: 'checkbox', name: 'dry_run' });
  const msg = h('p.error', { role: 'alert' });
  return h('form', {
    on: {
      async submit(e) {
        e.preventDefault();
        const f = file.files[0];
        if (!f) { replace(msg, 'Choose a file first.'); return; }
        const xml = /\.xml$/i.test(f.name) || f.type.includes('xml');
        try {
          const r = await api.request(`/imports${api.qs({ mode: mode.value, dry_run: dry.checked ? 'true' : undefined })}`, {
            method: 'POST', body: f, headers: { 'Content-Type': xml ? 'application/xml' : 'text/csv', 'Idempotency-Key': crypto.randomUUID() },
          });
          go(`#/imports/${r.body.id}`);
        } catch (err) {
          replace(msg, err.errors.length ? err.errors.map((x) => `${x.field}: ${x.message}`).join('. ') : api.explain(err));
        }
      },
    },
  }, h('h2', 'Import a catalogue file'),
  h('p.muted', 'CSV with a header row (isbn, title, authors, genres, publisher, price, quantity, …) or ONIX for Books 3.0.'),
  h('div.row', field('File', file), field('Mode', mode)), h('label.check', dry, ' Check only (dry run: nothing is written)'), msg,
  h('div.actions', h('button.primary', { type: 'submit' }, 'Upload and import')));
}

async function progress(id) {
  stopped = false;
  const bar = h('progress', { max: 100, value: 0, 'aria-label': 'Import progress' });
  const status = h('p', { role: 'status', dataset: { testid: 'import-state' } });
  const errors = h('div');
  const box = h('section', h('h2', 'Import'), bar, status, errors, h('p', h('a', { href: '#/imports' }, 'Import another file')));
  const poll = async () => {
    if (stopped) return;
    let job;
    try { job = await api.get(`/imports/${id}`); } catch (err) { replace(status, h('span.error', api.explain(err))); return; }
    const c = job.counts;
    bar.value = job.state === 'running' ? (job.bytes_total ? Math.floor((100 * job.bytes_read) / job.bytes_total) : 50) : 100;
    replace(status, `${job.state === 'running' ? 'Running' : job.state === 'done' ? 'Done' : 'Failed'}${job.dry_run ? ' (dry run)' : ''}: `,
      `${c.read} rows read, ${c.created} created, ${c.updated} updated, ${c.unchanged} unchanged, ${c.rejected} rejected.`,
      job.failure ? h('span.error', ` ${job.failure}`) : '');
    if (job.state === 'running') { setTimeout(poll, 500); return; }
    if (c.rejected) {
      const rows = await api.get(`/imports/${id}/errors?limit=100`);
      replace(errors, h('h3', 'Rejected rows'), table(['Line', 'ISBN', 'Field', 'Problem'], rows.items.map((r) => [r.line, r.isbn || '', r.field || '', r.message])));
    }
  };
  poll();
  return box;
}

function exportForm() {
  const fmt = h('select', { name: 'format' }, h('option', { value: 'text/csv' }, 'CSV (the import columns)'), h('option', { value: 'application/x-ndjson' }, 'NDJSON (one book a line)'));
  const q = h('input', { name: 'q', type: 'search' });
  return h('form', {
    on: {
      async submit(e) {
        e.preventDefault();
        try {
          const r = await api.request(`/books/export${api.qs({ q: q.value.trim() })}`, { accept: fmt.value, as: 'blob' });
          download(r.body, `books-${new Date().toISOString().slice(0, 10)}.${fmt.value === 'text/csv' ? 'csv' : 'ndjson'}`);
        } catch (err) { toast(api.explain(err), 'error'); }
      },
    },
  }, h('h2', 'Export the catalogue'), h('div.row', field('Format', fmt), field('Only books matching (optional)', q)),
  h('button.primary', { type: 'submit' }, 'Download'), h('p.muted', `As of ${fmtDate(new Date().toISOString())}`));
}
