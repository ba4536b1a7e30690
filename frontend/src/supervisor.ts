// The supervisor's screens: a staff login (Login; WhoAmI on load), the
// day's figures of this terminal (DailyReport, any day by a date picker)
// with the report's export as CSV, Excel or PDF (in a browser ExportReport,
// saved as a download; in the window SaveReport, through the save
// dialog), and the queue: waiting jobs and dead letters with Retry and
// Discard (a reason; a clerk needs a supervisor's login and password as
// the approval). One element that stays in the page while
// main.ts re-renders around it; texts through tRich (easy Japanese shows
// its furigana), dates in both calendars (format.ts).
import { api, ApiError, inWindow, type Approval, type QueueJobView, type ReceiptView, type ReportFormat, type ReportView, type SessionView } from './api';
import { h, openModal } from './dom';
import { dateMarkup, pinMarkup } from './format';
import { has, lang, markup, rich, tPlain, tRich, type RichData } from './i18n';

type Tab = 'dashboard' | 'queue' | 'reprints';

interface Msg {
  key: string;
  data?: RichData;
}

interface Host {
  render(): void;
  demo(): boolean;
  /** leave goes back to the mode choice; undefined when the terminal has one mode */
  leave?: () => void;
}

const state: {
  started: boolean;
  checked: boolean; // WhoAmI answered
  session?: SessionView;
  tab: Tab;
  busy: boolean;
  error?: Msg;
  info?: Msg;
  loginError?: Msg;
  date: string;
  report?: ReportView;
  jobs?: QueueJobView[];
  receipts?: ReceiptView[];
  paintedLang: string;
} = { started: false, checked: false, tab: 'dashboard', busy: false, date: '', paintedLang: '' };

let host: Host = { render: () => undefined, demo: () => false };
const el = h('section', { class: 'supervisor', 'aria-labelledby': 'sup-title' });
// The login form's fields keep what is typed across repaints.
const loginInput = h('input', { id: 'sup-login', type: 'text', autocomplete: 'username', spellcheck: 'false', required: true });
const passwordInput = h('input', { id: 'sup-password', type: 'password', autocomplete: 'current-password', required: true });

export function initSupervisor(hst: Host): void {
  host = hst;
}

/**
 * localDay is today's date in Japan (as Go's reports count days),
 * YYYY-MM-DD. Japan keeps UTC+9 all year; a locale's date format is no
 * help here (the window's WebKit formats 'en-CA' as 11/22/2026).
 */
function localDay(): string {
  return new Date(Date.now() + 9 * 3600_000).toISOString().slice(0, 10);
}

/** supervisorView is the supervisor's screen; the first call asks who is logged in. */
export function supervisorView(): HTMLElement {
  if (!state.started) {
    state.started = true;
    state.date = localDay();
    paint('keep', false);
    void whoAmI();
  } else if (state.paintedLang !== lang()) paint('keep', false);
  return el;
}

async function whoAmI(): Promise<void> {
  try {
    const s = await api.WhoAmI();
    state.session = s.loggedIn ? s : undefined;
  } catch {
    state.session = undefined;
  }
  state.checked = true;
  if (state.session) await openTab('dashboard', 'keep');
  else paint('keep');
}

function errMsg(e: unknown): Msg {
  return { key: e instanceof ApiError ? e.code : 'error.internal' };
}

/** loggedOut: the session ended (idle) while the screen was open. */
function sessionEnded(e: unknown): boolean {
  return e instanceof ApiError && e.code === 'staff.error.no_session';
}

async function busy(fn: () => Promise<void>, focus = 'keep'): Promise<void> {
  if (state.busy) return;
  state.busy = true;
  state.error = undefined;
  paint('keep');
  try {
    await fn();
  } catch (e) {
    if (sessionEnded(e)) {
      state.session = undefined;
      state.loginError = errMsg(e);
      focus = '#sup-login';
    } else state.error = errMsg(e);
  }
  state.busy = false;
  paint(state.error ? '#sup-error' : focus);
}

// ---- painting

/** paint draws the screen; attach: put it into the page when it is not (main.ts renders). */
function paint(focus: 'heading' | 'keep' | string, attach = true): void {
  const active = document.activeElement as HTMLElement | null;
  const prevId = active && el.contains(active) ? active.id : '';
  state.paintedLang = lang();
  const screen = !state.checked ? 'loading' : state.session ? state.tab : 'login';
  el.dataset.screen = screen;
  el.setAttribute('aria-busy', state.busy ? 'true' : 'false');
  const parts: (HTMLElement | null)[] =
    screen === 'loading'
      ? [h('h2', { id: 'sup-title', tabindex: '-1' }, tRich('mode.supervisor.title')), h('p', { class: 'busy', role: 'status' }, tRich('counter.busy'))]
      : screen === 'login'
        ? loginView()
        : [...sessionBar(), ...(screen === 'dashboard' ? dashboardView() : screen === 'reprints' ? reprintsView() : queueView())];
  if (state.busy && screen !== 'loading') parts.push(h('p', { class: 'busy', role: 'status' }, tRich('supervisor.busy')));
  if (host.leave) parts.push(h('button', { type: 'button', class: 'back', 'data-action': 'modes', onclick: () => host.leave?.() }, tRich('mode.back')));
  el.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  if (state.busy) for (const b of el.querySelectorAll<HTMLButtonElement>('button')) b.disabled = true;
  if (attach && !el.isConnected) host.render();
  const heading = el.querySelector<HTMLElement>('#sup-title');
  if (focus === 'heading') heading?.focus();
  else if (focus === 'keep') {
    if (prevId) document.getElementById(prevId)?.focus({ preventScroll: true });
  } else (el.querySelector<HTMLElement>(focus) ?? heading)?.focus();
}

function button(action: string, label: DocumentFragment | string, onclick: () => void, cls = '', attrs: Record<string, string> = {}): HTMLButtonElement {
  return h('button', { type: 'button', class: cls, 'data-action': action, ...attrs, onclick }, label);
}

function errorBox(m: Msg | undefined, id = 'sup-error'): HTMLElement | null {
  return m ? h('p', { class: 'error', id, role: 'alert', tabindex: '-1', 'data-code': m.key }, tRich(m.key, m.data)) : null;
}

// ---- login

function loginView(): (HTMLElement | null)[] {
  const form = h(
    'form',
    {
      class: 'sup-login',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void login();
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'sup-login' }, tRich('supervisor.login.login')), loginInput),
    h('div', { class: 'field' }, h('label', { for: 'sup-password' }, tRich('supervisor.login.password')), passwordInput),
    errorBox(state.loginError, 'login-error'),
    h('div', { class: 'wizard-nav' }, h('button', { type: 'submit', class: 'primary', 'data-action': 'login' }, tRich('supervisor.login.submit'))),
  );
  return [
    h('h2', { id: 'sup-title', tabindex: '-1' }, tRich('supervisor.login.title')),
    h('p', {}, tRich('supervisor.login.intro')),
    form,
    host.demo() ? demoAccounts() : null,
  ];
}

function demoAccounts(): HTMLElement {
  const rows: [string, string, string][] = [
    ['supervisor', 'supervisor', 'supervisor-demo'],
    ['clerk', 'clerk', 'clerk-demo'],
  ];
  return h(
    'div',
    { class: 'demo-accounts', id: 'demo-accounts' },
    h('h3', {}, tRich('supervisor.login.demo')),
    h(
      'table',
      { class: 'data' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, tRich('supervisor.col.role')),
          h('th', { scope: 'col' }, tRich('supervisor.login.login')),
          h('th', { scope: 'col' }, tRich('supervisor.login.password')),
        ),
      ),
      h(
        'tbody',
        {},
        rows.map(([role, login, pw]) =>
          h('tr', { 'data-account': login }, h('td', {}, tRich(`supervisor.role.${role}`)), h('td', {}, h('code', {}, login)), h('td', {}, h('code', {}, pw))),
        ),
      ),
    ),
  );
}

async function login(): Promise<void> {
  const login = loginInput.value.trim();
  const password = passwordInput.value;
  state.loginError = undefined;
  let ok = false;
  await busy(async () => {
    try {
      state.session = await api.Login(login, password);
      ok = true;
    } catch (e) {
      state.loginError = errMsg(e);
    } finally {
      passwordInput.value = '';
    }
  }, '#login-error');
  if (!ok) {
    paint(state.loginError ? '#login-error' : '#sup-login');
    return;
  }
  loginInput.value = '';
  await openTab('dashboard', 'heading');
}

async function logout(): Promise<void> {
  await busy(async () => {
    await api.Logout();
  });
  state.session = undefined;
  state.report = undefined;
  state.jobs = undefined;
  state.info = undefined;
  state.error = undefined;
  state.tab = 'dashboard';
  paint('#sup-login');
}

// ---- the logged-in screens

function sessionBar(): HTMLElement[] {
  const s = state.session!;
  const role = s.role && has(`supervisor.role.${s.role}`) ? markup(`supervisor.role.${s.role}`) : s.role ?? '';
  const tab = (id: Tab, label: DocumentFragment) =>
    h(
      'button',
      { type: 'button', class: 'tab', 'data-tab': id, 'aria-pressed': state.tab === id ? 'true' : 'false', onclick: () => void openTab(id, 'heading') },
      label,
    );
  return [
    h(
      'div',
      { class: 'sup-bar' },
      h('p', { class: 'sup-who', id: 'sup-who', 'data-login': s.login ?? '', 'data-role': s.role ?? '' }, tRich('supervisor.session', { Name: s.name ?? s.login ?? '', Login: s.login ?? '', Role: role })),
      h('nav', { class: 'sup-tabs', 'aria-label': tPlain('supervisor.tabs') }, tab('dashboard', tRich('supervisor.tab.dashboard')), tab('queue', tRich('supervisor.tab.queue')), tab('reprints', tRich('supervisor.tab.reprints'))),
      button('logout', tRich('supervisor.logout'), () => void logout(), 'secondary'),
    ),
  ];
}

async function openTab(tab: Tab, focus: string): Promise<void> {
  state.tab = tab;
  state.error = undefined;
  state.info = undefined;
  if (tab === 'dashboard') await loadReport(focus);
  else if (tab === 'reprints') await loadReceipts(focus);
  else await loadJobs(focus);
}

async function loadReport(focus = 'keep'): Promise<void> {
  const date = state.date;
  await busy(async () => {
    state.report = undefined;
    const r = await api.DailyReport(date);
    if (state.date === date) state.report = r;
  }, focus);
}

async function loadReceipts(focus = 'keep'): Promise<void> {
  await busy(async () => {
    state.receipts = undefined;
    state.receipts = await api.Receipts();
  }, focus);
}

async function reprint(number: string): Promise<void> {
  await busy(async () => {
    const msg = await api.Reprint(number, null);
    state.info = { key: msg || 'supervisor.reprints.done' };
    state.receipts = await api.Receipts();
  });
}

/** The latest receipts, each with a reprint button (audited). */
function reprintsView(): (HTMLElement | null)[] {
  const rs = state.receipts;
  const head = h('h2', { id: 'sup-title', tabindex: '-1' }, tRich('supervisor.reprints.title'));
  if (!rs) return [head, errorBox(state.error)];
  if (rs.length === 0) return [head, errorBox(state.error), h('p', { id: 'reprints-none' }, tRich('supervisor.reprints.none'))];
  const rows = rs.map((r) =>
    h(
      'tr',
      { 'data-receipt': r.number },
      h('td', {}, r.number),
      h('td', {}, label(r.procedure, `procedure.${r.procedure}`, `report.procedure.${r.procedure}`)),
      h('td', {}, dateRich(r.issued.slice(0, 10))),
      h('td', {}, tRich(`supervisor.reprints.status.${r.status}`)),
      h('td', {}, button(`reprint-${r.number}`, tRich('supervisor.reprints.button'), () => void reprint(r.number), 'secondary')),
    ),
  );
  return [
    head,
    errorBox(state.error),
    state.info ? h('p', { class: 'info', role: 'status', id: 'sup-info' }, tRich(state.info.key, state.info.data)) : null,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { id: 'reprints' },
        h('caption', {}, tRich('supervisor.reprints.caption')),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, tRich('supervisor.reprints.number')),
            h('th', { scope: 'col' }, tRich('supervisor.reprints.procedure')),
            h('th', { scope: 'col' }, tRich('supervisor.reprints.issued')),
            h('th', { scope: 'col' }, tRich('supervisor.reprints.status')),
            h('th', { scope: 'col' }, tRich('supervisor.reprints.action')),
          ),
        ),
        h('tbody', {}, ...rows),
      ),
    ),
  ];
}

async function loadJobs(focus = 'keep'): Promise<void> {
  await busy(async () => {
    state.jobs = undefined;
    state.jobs = await api.QueueJobs();
  }, focus);
}

// ---- the day's figures

function dashboardView(): (HTMLElement | null)[] {
  const r = state.report;
  const date = h('input', {
    id: 'report-date',
    type: 'date',
    max: localDay(),
    'aria-describedby': 'report-date-text',
    onchange: () => {
      if (!date.value || date.value === state.date) return;
      state.date = date.value;
      void loadReport('#report-date');
    },
  });
  date.value = state.date;
  return [
    h('h2', { id: 'sup-title', tabindex: '-1' }, tRich('supervisor.dashboard.title')),
    h(
      'div',
      { class: 'report-tools' },
      h(
        'div',
        { class: 'field report-day' },
        h('label', { for: 'report-date' }, tRich('supervisor.date')),
        date,
        h('p', { class: 'hint', id: 'report-date-text' }, dateRich(state.date)),
      ),
      button('refresh', tRich('supervisor.refresh'), () => void loadReport('keep')),
      h(
        'div',
        { class: 'export', role: 'group', 'aria-labelledby': 'export-title' },
        h('span', { id: 'export-title', class: 'export-title' }, tRich('supervisor.export.title')),
        (['csv', 'xlsx', 'pdf'] as ReportFormat[]).map((f) =>
          button(`export-${f}`, tRich(`supervisor.export.${f}`), () => void exportReport(f), '', { 'data-export': f }),
        ),
      ),
    ),
    state.info ? h('p', { class: 'info', role: 'status', id: 'sup-info' }, tRich(state.info.key, state.info.data)) : null,
    errorBox(state.error),
    r ? report(r) : null,
  ];
}

async function exportReport(format: ReportFormat): Promise<void> {
  const date = state.date;
  state.info = undefined;
  await busy(async () => {
    if (inWindow()) {
      // The desktop window has no downloads: Go asks where to save.
      const s = await api.SaveReport(date, format, lang());
      if (!s.cancelled) state.info = { key: 'supervisor.export.done', data: { File: s.path } };
      return;
    }
    const f = await api.ExportReport(date, format, lang());
    save(f.filename, f.mime, f.data);
    state.info = { key: 'supervisor.export.done', data: { File: f.filename } };
  }, '#sup-info');
}

/** save hands a file to the browser as a download. */
function save(filename: string, mime: string, base64: string): void {
  const bin = atob(base64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const url = URL.createObjectURL(new Blob([bytes], { type: mime || 'application/octet-stream' }));
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  // The browser has the file by then.
  window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** dateRich is a date in both calendars, the era's name with its furigana. */
function dateRich(iso: string): DocumentFragment {
  return rich(dateMarkup(iso).text);
}

/** label is the first of keys that has a message, else the id itself. */
function label(id: string, ...keys: string[]): DocumentFragment | string {
  for (const k of keys) if (has(k)) return tRich(k);
  return id;
}

const kindLabel = (k: string) => label(k, `report.procedure.${k}`, `procedure.${k}`);
const stepLabel = (s: string) => label(s, `report.step.${s}`, `flow.step.${s}`);
const expiryItem: Record<string, string> = {
  card: 'receipt.validity.card',
  auth: 'receipt.validity.auth',
  sign: 'receipt.validity.signature',
  any: 'supervisor.expiry.any',
};

/** mss shows seconds as m:ss (h:mm:ss from an hour). */
function mss(sec: number): string {
  const s = Math.round(sec);
  const p = (n: number) => String(n).padStart(2, '0');
  return s >= 3600 ? `${Math.floor(s / 3600)}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}` : `${Math.floor(s / 60)}:${p(s % 60)}`;
}

const num = (n: number) => n.toLocaleString(lang());

interface Col {
  key: string;
  numeric?: boolean;
}

type Cell = string | Node;

function table(id: string, caption: DocumentFragment, cols: Col[], rows: { key: string; cells: Cell[] }[]): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'data', id, 'data-rows': String(rows.length) },
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col', class: c.numeric ? 'num' : '' }, tRich(c.key))))),
      h(
        'tbody',
        {},
        rows.length === 0
          ? h('tr', {}, h('td', { colspan: String(cols.length), class: 'none' }, tRich('supervisor.none')))
          : rows.map((r) =>
              h(
                'tr',
                { 'data-row': r.key },
                r.cells.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', { class: cols[i].numeric ? 'num' : '' }, c))),
              ),
            ),
      ),
    ),
  );
}

function report(r: ReportView): HTMLElement {
  const procs = r.procedures ?? [];
  const total = procs.reduce((n, p) => n + p.count, 0);
  const byOutcome = (o: string) => procs.filter((p) => p.outcome === o).reduce((n, p) => n + p.count, 0);
  const kiosk = r.kiosk ?? [];
  const kioskStarted = kiosk.reduce((n, k) => n + k.started, 0);
  const figure = (id: string, key: string, value: number, warn = false) =>
    h(
      'div',
      { class: `figure${warn && value > 0 ? ' warn' : ''}`, 'data-figure': id, 'data-value': String(value) },
      h('span', { class: 'figure-value' }, num(value)),
      h('span', { class: 'figure-label' }, tRich(key)),
    );

  // Procedures: one row per kind, one column per outcome.
  const outcomes = ['ok', 'queued', 'failed'];
  for (const p of procs) if (!outcomes.includes(p.outcome)) outcomes.push(p.outcome);
  const kinds = [...new Set(procs.map((p) => p.kind))];
  const procRows = kinds.map((k) => {
    const cells: Cell[] = [kindLabel(k)];
    let sum = 0;
    for (const o of outcomes) {
      const n = procs.filter((p) => p.kind === k && p.outcome === o).reduce((a, p) => a + p.count, 0);
      sum += n;
      cells.push(num(n));
    }
    cells.push(num(sum));
    return { key: k, cells };
  });
  const outcomeCols: Col[] = outcomes.map((o) => ({ key: has(`supervisor.outcome.${o}`) ? `supervisor.outcome.${o}` : o, numeric: true }));

  const pinRows = Object.entries(r.pinResets ?? {}).map(([pin, n]) => ({ key: pin, cells: [rich(pinMarkup(pin).text), num(n)] }));
  const expiryRows = Object.entries(r.nearExpiry ?? {}).map(([item, n]) => ({
    key: item,
    cells: [expiryItem[item] ? label(item, expiryItem[item]) : item, num(n)],
  }));

  return h(
    'div',
    { class: 'report', id: 'report', 'data-date': r.date },
    h('p', { class: 'report-of' }, tRich('supervisor.dashboard.of', { Date: dateMarkup(r.date), Terminal: r.terminal })),
    h(
      'div',
      { class: 'figures-grid' },
      figure('procedures', 'supervisor.figure.procedures', total),
      figure('ok', 'supervisor.figure.ok', byOutcome('ok')),
      figure('failed', 'supervisor.figure.failed', byOutcome('failed'), true),
      figure('kiosk', 'supervisor.figure.kiosk', kioskStarted),
      figure('backlog', 'supervisor.figure.backlog', r.queue?.backlog ?? 0),
      figure('dead', 'supervisor.figure.dead', r.queue?.dead ?? 0, true),
      figure('reprints', 'supervisor.figure.reprints', r.reprints ?? 0),
    ),
    table(
      'report-procedures',
      tRich('supervisor.section.procedures'),
      [{ key: 'supervisor.col.procedure' }, ...outcomeCols, { key: 'supervisor.col.total', numeric: true }],
      procRows,
    ),
    table(
      'report-handling',
      tRich('supervisor.section.handling'),
      [
        { key: 'supervisor.col.procedure' },
        { key: 'supervisor.col.count', numeric: true },
        { key: 'supervisor.col.median', numeric: true },
        { key: 'supervisor.col.p90', numeric: true },
      ],
      (r.handling ?? []).map((x) => ({ key: x.kind, cells: [kindLabel(x.kind), num(x.count), mss(x.medianSec), mss(x.p90Sec)] })),
    ),
    table(
      'report-kiosk',
      tRich('supervisor.section.kiosk'),
      [
        { key: 'supervisor.col.procedure' },
        { key: 'supervisor.col.started', numeric: true },
        { key: 'supervisor.col.completed', numeric: true },
        { key: 'supervisor.col.failed', numeric: true },
        { key: 'supervisor.col.dropped', numeric: true },
        { key: 'supervisor.col.dropped_at' },
      ],
      kiosk.map((k) => ({
        key: k.procedure,
        cells: [
          k.procedure ? kindLabel(k.procedure) : tRich('supervisor.kiosk.no_procedure'),
          num(k.started),
          num(k.completed),
          num(k.failed),
          num(k.dropped),
          h(
            'span',
            {},
            Object.entries(k.droppedAt ?? {})
              .sort((a, b) => b[1] - a[1])
              .flatMap(([s, n], i) => [i > 0 ? ', ' : '', stepLabel(s), `: ${num(n)}`]),
          ),
        ],
      })),
    ),
    h(
      'div',
      { class: 'report-pair' },
      table('report-pins', tRich('supervisor.section.pins'), [{ key: 'supervisor.col.pin' }, { key: 'supervisor.col.count', numeric: true }], pinRows),
      table('report-expiry', tRich('supervisor.section.expiry'), [{ key: 'supervisor.col.item' }, { key: 'supervisor.col.count', numeric: true }], expiryRows),
    ),
  );
}

// ---- the queue

/** jobTime is when a job was queued: the date in both calendars and the time, in Japan. */
function jobTime(iso: string): HTMLElement | string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const time = new Date(ms).toLocaleTimeString(lang(), { timeZone: 'Asia/Tokyo', hour: '2-digit', minute: '2-digit' });
  return h('span', {}, dateRich(iso), ' ', h('span', { class: 'nowrap' }, time));
}

function queueView(): (HTMLElement | null)[] {
  const jobs = state.jobs;
  const supervisor = state.session?.role === 'supervisor';
  const th = (key: string, cls = '') => h('th', { scope: 'col', class: cls }, tRich(key));
  return [
    h('h2', { id: 'sup-title', tabindex: '-1' }, tRich('supervisor.queue.title')),
    h('p', {}, tRich('supervisor.queue.intro')),
    h('div', { class: 'report-tools' }, button('refresh', tRich('supervisor.refresh'), () => void loadJobs('keep'))),
    state.info ? h('p', { class: 'info', role: 'status', id: 'sup-info', tabindex: '-1' }, tRich(state.info.key, state.info.data)) : null,
    errorBox(state.error),
    jobs
      ? jobs.length === 0
        ? h('p', { class: 'note', id: 'queue-empty' }, tRich('supervisor.queue.none'))
        : h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'data', id: 'queue-jobs', 'data-rows': String(jobs.length) },
              h('caption', {}, tRich('supervisor.queue.caption', { Dead: jobs.filter((j) => j.state === 'dead').length, Waiting: jobs.filter((j) => j.state !== 'dead').length })),
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  th('supervisor.col.id', 'num'),
                  th('supervisor.col.job'),
                  th('supervisor.col.state'),
                  th('supervisor.col.attempts', 'num'),
                  th('supervisor.col.reason'),
                  th('supervisor.col.created'),
                  th('supervisor.col.actions'),
                ),
              ),
              h(
                'tbody',
                {},
                jobs.map((j) => {
                  const kindKey = `supervisor.job.${j.kind.replace(/-/g, '_')}`;
                  const stateKey = `supervisor.state.${j.state}`;
                  return h(
                    'tr',
                    { 'data-job': String(j.id), 'data-state': j.state, class: j.state === 'dead' ? 'dead' : '' },
                    h('td', { class: 'num' }, String(j.id)),
                    h('td', {}, has(kindKey) ? tRich(kindKey) : j.kind),
                    h('td', { class: `job-state state-${j.state}` }, has(stateKey) ? tRich(stateKey) : j.state),
                    h('td', { class: 'num' }, String(j.attempts)),
                    h('td', { class: 'reason' }, j.reason ?? ''),
                    h('td', {}, jobTime(j.created)),
                    h(
                      'td',
                      {},
                      j.state === 'dead'
                        ? h('div', { class: 'actions' }, [
                            supervisor ? button('retry', tRich('supervisor.retry.button'), () => void retry(j)) : null,
                            button('discard', tRich('supervisor.discard.button'), () => discardDialog(j), 'danger'),
                          ])
                        : null,
                    ),
                  );
                }),
              ),
            ),
          )
      : null,
  ];
}

async function retry(j: QueueJobView): Promise<void> {
  state.info = undefined;
  await busy(async () => {
    await api.QueueRetry(j.id);
    state.info = { key: 'supervisor.retried', data: { ID: j.id } };
    state.jobs = await api.QueueJobs();
  }, '#sup-info');
}

let dialog: HTMLDialogElement | undefined;

function closeDialog(): void {
  if (!dialog) return;
  const d = dialog;
  dialog = undefined;
  if (d.open) d.close();
  d.remove();
}

/** discardDialog asks for the reason and, for a clerk, a supervisor's approval. */
function discardDialog(j: QueueJobView): void {
  closeDialog();
  const needsApproval = state.session?.role !== 'supervisor';
  const opener = document.activeElement as HTMLElement | null;
  const error = h('div', { id: 'discard-error', 'aria-live': 'assertive' });
  const reason = h('input', {
    id: 'discard-reason',
    type: 'text',
    autocomplete: 'off',
    'aria-required': 'true',
    maxlength: '500',
    oninput: () => error.replaceChildren(),
  });
  const apLogin = h('input', { id: 'approval-login', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const apPassword = h('input', { id: 'approval-password', type: 'password', autocomplete: 'off' });
  let sending = false;
  const cancel = () => {
    closeDialog();
    opener?.focus();
  };
  const submit = async () => {
    if (sending) return;
    error.replaceChildren();
    const problems: string[] = [];
    if (reason.value.trim() === '') problems.push('supervisor.problem.reason');
    if (needsApproval && (apLogin.value.trim() === '' || apPassword.value === '')) problems.push('supervisor.problem.approval');
    if (problems.length > 0) {
      error.replaceChildren(...problems.map((k) => h('p', { class: 'error', role: 'alert' }, tRich(k))));
      (problems[0] === 'supervisor.problem.reason' ? reason : apLogin.value.trim() === '' ? apLogin : apPassword).focus();
      return;
    }
    const approval: Approval | null = needsApproval ? { login: apLogin.value.trim(), password: apPassword.value } : null;
    sending = true;
    try {
      await api.QueueDiscard(j.id, reason.value.trim(), approval);
    } catch (e) {
      sending = false;
      apPassword.value = '';
      error.replaceChildren(h('p', { class: 'error', role: 'alert', 'data-code': errMsg(e).key }, tRich(errMsg(e).key)));
      (needsApproval ? apLogin : reason).focus();
      return;
    } finally {
      if (approval) approval.password = '';
    }
    closeDialog();
    state.info = { key: 'supervisor.discarded', data: { ID: j.id } };
    await busy(async () => {
      state.jobs = await api.QueueJobs();
    }, '#sup-info');
  };
  const d = h(
    'dialog',
    { id: 'discard-dialog', class: 'confirm-dialog', 'aria-labelledby': 'discard-title' },
    h(
      'form',
      {
        onsubmit: (e: Event) => {
          e.preventDefault();
          void submit();
        },
      },
      h('h2', { id: 'discard-title' }, tRich('supervisor.discard.title', { ID: j.id })),
      h('p', {}, tRich('supervisor.discard.text')),
      h('div', { class: 'field' }, h('label', { for: 'discard-reason' }, tRich('supervisor.discard.reason')), reason),
      needsApproval
        ? h(
            'fieldset',
            { class: 'approval' },
            h('legend', {}, tRich('supervisor.discard.approval')),
            h('div', { class: 'field' }, h('label', { for: 'approval-login' }, tRich('supervisor.login.login')), apLogin),
            h('div', { class: 'field' }, h('label', { for: 'approval-password' }, tRich('supervisor.login.password')), apPassword),
          )
        : null,
      error,
      h(
        'div',
        { class: 'wizard-nav' },
        h('button', { type: 'button', class: 'secondary', 'data-action': 'discard-cancel', onclick: cancel }, tRich('counter.nav.cancel')),
        h('button', { type: 'submit', class: 'danger primary', 'data-action': 'discard-confirm' }, tRich('supervisor.discard.confirm')),
      ),
    ),
  ) as HTMLDialogElement;
  dialog = d;
  openModal(d, cancel);
  reason.focus();
}
