import './style.css';
import { api, ApiError, inWindow, login, type Info, type Mode, type ProcedureView, type Status } from './api';
import { counterActive, counterView, initCounter, isCounterProcedure, startCounter } from './counter';
import { openDiagnostics } from './diag';
import { h } from './dom';
import { lang, setCatalog, t, tn, today } from './i18n';
import { startKiosk } from './kiosk';
import { initPhone, isPhoneProcedure, phoneActive, phoneListEntry, phoneView, startPhone } from './phone';
import { initSupervisor, supervisorView } from './supervisor';

// The state of the screen. Everything shown is derived from it in render().
const state: {
  info?: Info;
  status?: Status;
  statusError?: string;
  mode: Mode;
  procedures: ProcedureView[];
  fatal?: string;
  needLogin: boolean;
  loginFailed: boolean;
} = { mode: '', procedures: [], needLogin: false, loginFailed: false };

const root = document.getElementById('app')!;
const STATUS_EVERY_MS = 1500;

// The day the catalogue's "today" was formatted; a counter runs all day,
// so the date is fetched again once the local day changes.
let catalogDay = '';

async function loadCatalog(tag: string): Promise<void> {
  setCatalog(await api.Catalog(tag));
  catalogDay = new Date().toDateString();
}

async function switchLanguage(tag: string): Promise<void> {
  await loadCatalog(tag);
  try {
    localStorage.setItem('madoguchi.lang', tag);
  } catch {
    /* storage may be unavailable; the choice then lasts for this page */
  }
  render();
}

async function refreshProcedures(): Promise<void> {
  state.procedures = state.mode === '' ? [] : await api.Procedures(state.mode);
}

async function chooseMode(mode: Mode): Promise<void> {
  state.mode = mode;
  await refreshProcedures().catch(() => undefined);
  render();
}

async function refreshStatus(): Promise<void> {
  try {
    await refreshProcedures();
    if (catalogDay !== '' && catalogDay !== new Date().toDateString()) await loadCatalog(lang());
    state.status = await api.Status();
    state.statusError = undefined;
  } catch (e) {
    state.statusError = e instanceof ApiError ? e.code : 'error.internal';
  }
  render();
}

function header(info: Info): HTMLElement {
  const langs = h(
    'div',
    { class: 'langs', role: 'group', 'aria-label': t('language.choose') },
    info.languages.map((l) =>
      h(
        'button',
        {
          type: 'button',
          lang: l.tag,
          class: 'lang',
          'aria-pressed': l.tag === lang() ? 'true' : 'false',
          'data-lang': l.tag,
          onclick: () => void switchLanguage(l.tag),
        },
        l.native,
      ),
    ),
  );
  return h(
    'header',
    { class: 'top' },
    h(
      'div',
      { class: 'brand' },
      h('h1', {}, t('app.title')),
      h('p', { class: 'subtitle' }, t('app.subtitle')),
    ),
    h(
      'div',
      { class: 'where' },
      h('span', { class: 'place' }, `${info.municipality} ${info.counter}`),
      h('span', { class: 'today', id: 'today' }, `${t('today.label')}: ${today()}`),
    ),
    langs,
  );
}

function demoBanner(): HTMLElement {
  return h('div', { class: 'demo-banner', id: 'demo-banner', role: 'note' }, h('strong', {}, t('demo.badge')), ' ', t('demo.banner'));
}

function statusPanel(): HTMLElement {
  const s = state.status;
  const rows: [string, string, string, string][] = [];
  if (s) {
    const withDetail = (c: { label: string; detail?: string }) => (c.detail ? `${t(c.label)} (${c.detail})` : t(c.label));
    rows.push(['reader', t('status.reader.label'), withDetail(s.reader), s.reader.state]);
    rows.push(['central', t('status.central.label'), t(s.central.label), s.central.state]);
    const q = [tn('status.queue.pending', s.queue.pending)];
    if (s.queue.dead > 0) q.push(tn('status.queue.failed', s.queue.dead));
    rows.push(['queue', t('status.queue.label'), q.join(' · '), s.queue.dead > 0 ? 'error' : 'ok']);
    const p = [withDetail(s.printer)];
    if (s.unprinted > 0) p.push(tn('status.printer.unprinted', s.unprinted));
    rows.push(['printer', t('status.printer.label'), p.join(' · '), s.unprinted > 0 ? 'error' : s.printer.state]);
    rows.push(['data', t('status.data.label'), s.dataDir, 'ok']);
  }
  return h(
    'section',
    { class: 'status', 'aria-labelledby': 'status-title' },
    h('h2', { id: 'status-title' }, t('status.title')),
    state.statusError ? h('p', { class: 'error', role: 'alert' }, t(state.statusError)) : null,
    h(
      'dl',
      {},
      rows.flatMap(([id, label, value, st]) => [
        h('dt', {}, label),
        h('dd', { id: `status-${id}`, class: `state-${st}` }, value),
      ]),
    ),
    s
      ? h(
          'p',
          { class: 'checked' },
          t('status.updated', { Time: new Date(s.checkedAt).toLocaleTimeString(lang()) }),
        )
      : null,
    h(
      'button',
      { type: 'button', class: 'secondary diag-open', id: 'diag-open', 'data-action': 'diagnostics', onclick: () => openDiagnostics('diag-open') },
      t('diag.open'),
    ),
  );
}

const modes: { mode: Exclude<Mode, ''>; title: string; description: string }[] = [
  { mode: 'counter', title: 'mode.counter.title', description: 'mode.counter.description' },
  { mode: 'kiosk', title: 'mode.kiosk.title', description: 'mode.kiosk.description' },
  { mode: 'supervisor', title: 'mode.supervisor.title', description: 'mode.supervisor.description' },
];

function modeChoice(): HTMLElement {
  return h(
    'section',
    { class: 'modes', 'aria-labelledby': 'modes-title' },
    h('h2', { id: 'modes-title' }, t('mode.choose')),
    h(
      'div',
      { class: 'mode-grid' },
      modes.map((m) =>
        h(
          'button',
          { type: 'button', class: 'mode', 'data-mode': m.mode, onclick: () => void chooseMode(m.mode) },
          h('span', { class: 'mode-title' }, t(m.title)),
          h('span', { class: 'mode-desc' }, t(m.description)),
        ),
      ),
    ),
  );
}

function modeScreen(mode: Exclude<Mode, ''>): HTMLElement {
  const m = modes.find((x) => x.mode === mode)!;
  return h(
    'section',
    { class: 'mode-screen', 'aria-labelledby': 'mode-title' },
    h('h2', { id: 'mode-title', tabindex: '-1' }, t(m.title)),
    h('h3', {}, t('mode.procedures')),
    h(
      'ul',
      { class: 'procedures' },
      state.procedures.map((p) =>
        h(
          'li',
          { 'data-procedure': p.id },
          h(
            'button',
            {
              type: 'button',
              disabled: !p.available,
              'aria-describedby': p.note ? `note-${p.id}` : false,
              onclick:
                mode === 'counter' && isCounterProcedure(p.id)
                  ? () => startCounter(p.id, p.label)
                  : mode === 'counter' && isPhoneProcedure(p.id)
                    ? () => startPhone(p.label)
                    : false,
            },
            t(p.label),
          ),
          mode === 'counter' && isPhoneProcedure(p.id) ? phoneListEntry(p) : null,
          p.note ? h('p', { class: 'note', id: `note-${p.id}` }, t(p.note)) : null,
        ),
      ),
    ),
    state.info?.mode === '' ? h('button', { type: 'button', class: 'back', onclick: () => void chooseMode('') }, t('mode.back')) : null,
  );
}

function loginScreen(): HTMLElement {
  const input = h('input', { id: 'access-code', type: 'password', autocomplete: 'off', required: true });
  return h(
    'form',
    {
      class: 'login',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void login(input.value).then((ok) => {
          input.value = '';
          state.loginFailed = !ok;
          state.needLogin = !ok;
          if (ok) void start();
          else render();
        });
      },
    },
    h('h2', {}, t('login.title')),
    h('label', { for: 'access-code' }, t('login.token')),
    input,
    state.loginFailed ? h('p', { class: 'error', role: 'alert' }, t('login.failed')) : null,
    h('button', { type: 'submit' }, t('login.submit')),
  );
}

/** persistentView is the open wizard or the supervisor's screen, which stay in the page. */
function persistentView(): HTMLElement | null {
  if (state.mode === 'counter' && counterActive()) return counterView();
  if (state.mode === 'counter' && phoneActive()) return phoneView();
  if (state.mode === 'supervisor') return supervisorView();
  return null;
}

function render(): void {
  const info = state.info;
  const screen = state.needLogin ? 'login' : state.mode === '' ? 'modes' : state.mode;
  root.dataset.screen = screen;
  // An open counter wizard stays in the page as it is: the rest is
  // replaced around it, so focus, caret and screen readers are undisturbed
  // by the status refresh.
  const persistent = !state.needLogin && info ? persistentView() : null;
  if (persistent && info) {
    const wizard = persistent;
    const main = document.getElementById('main');
    if (main && main.firstElementChild === wizard && main.parentElement === root) {
      main.lastElementChild?.replaceWith(statusPanel());
      const next = [info.demo ? demoBanner() : null, header(info), main, footer(info)].filter((x): x is HTMLElement => x !== null);
      const old = [...root.children];
      if (old.length === next.length && old.indexOf(main) === next.indexOf(main)) {
        old.forEach((o, i) => o !== main && o.replaceWith(next[i]));
        return;
      }
    }
  }
  root.replaceChildren(
    ...(state.needLogin
      ? [loginScreen()]
      : info
        ? [
            info.demo ? demoBanner() : null,
            header(info),
            h(
              'main',
              { id: 'main' },
              state.mode === '' ? modeChoice() : persistent ?? modeScreen(state.mode),
              statusPanel(),
            ),
            footer(info),
          ].filter((x): x is HTMLElement => x !== null)
        : [h('p', { class: 'error', role: 'alert' }, t(state.fatal ?? 'error.unavailable'))]),
  );
}

function footer(info: Info): HTMLElement {
  return h('footer', {}, `${t('version.label')} ${info.version} · ${info.terminal}`);
}

function reportFirstPaint(): void {
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      const banner = document.getElementById('demo-banner');
      void api
        .FirstPaint({
          screen: root.dataset.screen ?? '',
          lang: lang(),
          bannerShown: banner !== null && banner.offsetHeight > 0,
          statusLoaded: state.status !== undefined,
        })
        .catch(() => undefined);
    }),
  );
}

async function start(): Promise<void> {
  try {
    state.info = await api.Info();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      state.needLogin = true;
      // The catalogue is public: the login form speaks the browser's language.
      setCatalog(await api.Catalog(navigator.language));
      render();
      return;
    }
    state.fatal = e instanceof ApiError ? e.code : 'error.unavailable';
    render();
    return;
  }
  state.needLogin = false;
  if (state.info.mode === 'kiosk') {
    // The kiosk owns the page: its own screens, language and timeouts; no
    // status panel, and the citizen's language is never stored.
    state.mode = 'kiosk';
    try {
      await startKiosk(state.info);
    } catch (e) {
      state.fatal = e instanceof ApiError ? e.code : 'error.unavailable';
      render();
      return;
    }
    reportFirstPaint();
    return;
  }
  initCounter({ render, demo: () => state.info?.demo === true });
  initPhone({ render, demo: () => state.info?.demo === true });
  initSupervisor({
    render,
    demo: () => state.info?.demo === true,
    leave: state.info.mode === '' ? () => void chooseMode('') : undefined,
  });
  state.mode = state.info.mode;
  await refreshProcedures().catch(() => undefined);
  let saved: string | null = null;
  try {
    saved = localStorage.getItem('madoguchi.lang');
  } catch {
    /* no storage */
  }
  await loadCatalog(saved ?? state.info.language);
  await refreshStatus();
  reportFirstPaint();
  setInterval(() => void refreshStatus(), STATUS_EVERY_MS);
}

document.documentElement.dataset.face = inWindow() ? 'window' : 'browser';
void start();
