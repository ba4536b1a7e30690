// The diagnostics dialog (app.Diagnostics), opened from the status panel:
// every part the terminal depends on with its state and, when something is
// wrong, the code to quote to IT support (docs/ERROR-CODES.md) and what to
// do. It lives outside #app, so the status panel's refresh leaves it be.
import { api, ApiError, type Check, type DiagnosticsView } from './api';
import { h, openModal } from './dom';
import { tRich } from './i18n';

let dialog: HTMLDialogElement | undefined;

function partTitle(part: Check['part']): DocumentFragment {
  switch (part) {
    case 'reader':
      return tRich('diag.check.reader');
    case 'central':
      return tRich('diag.check.central');
    case 'clock':
      return tRich('diag.check.clock');
    case 'printer':
      return tRich('diag.check.printer');
    case 'queue':
      return tRich('diag.check.queue');
    case 'store':
      return tRich('diag.check.store');
    case 'disk':
      return tRich('diag.check.disk');
    case 'fonts':
      return tRich('diag.check.fonts');
  }
}

function stateText(state: Check['state']): DocumentFragment {
  switch (state) {
    case 'ok':
      return tRich('diag.state.ok');
    case 'demo':
      return tRich('diag.state.demo');
    case 'warn':
      return tRich('diag.state.warn');
    case 'fail':
      return tRich('diag.state.fail');
  }
}

function checkItem(c: Check): HTMLElement {
  return h(
    'li',
    { class: `diag-check state-${c.state}`, 'data-part': c.part, 'data-state': c.state, 'data-code': c.code ?? '' },
    h('h3', {}, partTitle(c.part), ' ', h('span', { class: 'diag-state' }, stateText(c.state))),
    h('p', { class: 'diag-found' }, tRich(c.label, c.data ?? {}), c.detail ? ` (${c.detail})` : ''),
    c.code ? h('p', { class: 'diag-code' }, tRich('diag.code', { Code: c.code })) : null,
    c.fix ? h('p', { class: 'diag-fix' }, h('strong', {}, tRich('diag.what_to_do')), ' ', tRich(c.fix)) : null,
  );
}

function body(v: DiagnosticsView | undefined, error: string | undefined): HTMLElement[] {
  if (error) return [h('p', { class: 'error', role: 'alert' }, tRich(error))];
  if (!v) return [h('p', { class: 'busy', role: 'status' }, tRich('diag.checking'))];
  // Problems first, in the catalogue's order within each group.
  const rank = { fail: 0, warn: 1, demo: 2, ok: 3 } as const;
  const checks = [...v.checks].sort((a, b) => rank[a.state] - rank[b.state]);
  return [
    h('ul', { class: 'diag-checks', id: 'diag-checks' }, checks.map(checkItem)),
    h('p', { class: 'checked' }, tRich('diag.facts', { Version: v.version, Terminal: v.terminal, DataDir: v.dataDir })),
  ];
}

async function fill(content: HTMLElement): Promise<void> {
  content.replaceChildren(...body(undefined, undefined));
  try {
    const v = await api.Diagnostics();
    content.replaceChildren(...body(v, undefined));
  } catch (e) {
    content.replaceChildren(...body(undefined, e instanceof ApiError ? e.code : 'error.internal'));
  }
}

/**
 * openDiagnostics shows the dialog and runs the checks; the element with
 * id openerId gets the focus back (looked up on closing: the status panel
 * may have been drawn anew meanwhile).
 */
export function openDiagnostics(openerId: string): void {
  dialog?.remove();
  const content = h('div', { class: 'diag-body', 'aria-live': 'polite' });
  const close = () => {
    d.close();
    d.remove();
    dialog = undefined;
    document.getElementById(openerId)?.focus();
  };
  const d = h(
    'dialog',
    { class: 'confirm-dialog diag-dialog', id: 'diag-dialog', 'aria-labelledby': 'diag-title' },
    h('h2', { id: 'diag-title' }, tRich('diag.title')),
    h('p', {}, tRich('diag.intro')),
    content,
    h(
      'div',
      { class: 'wizard-nav' },
      h('button', { type: 'button', class: 'secondary', 'data-action': 'diag-again', onclick: () => void fill(content) }, tRich('diag.again')),
      h('button', { type: 'button', class: 'primary', 'data-action': 'diag-close', onclick: close }, tRich('diag.close')),
    ),
  ) as HTMLDialogElement;
  dialog = d;
  openModal(d, close);
  void fill(content);
}
