// The kiosk: the unattended self-service screens (`--mode kiosk`).
//
// attract ("touch to start", cycling through the languages) → the
// language choice, first → the procedure menu → the procedure's steps
// (each with "step n of m") → the result with a reminder to take the card
// → "take your card" → attract again.
//
// Privacy: every touch or key is activity (KioskTouch, at most once per
// 2 s); without activity a warning shows WarnSeconds before the idle
// timeout, and at the timeout — as at the end of every procedure — the Go
// session ends (KioskEnd) and everything of the citizen leaves the page:
// the state below is replaced, the PIN pads cleared, the screen rebuilt
// from nothing. The holder's name and individual number are never shown
// (KioskCard does not even return them): on a screen in a public place,
// the procedure needs neither.
//
// Every text goes through tRich/tnRich (messages may carry furigana as
// ruby markup; nothing else of them becomes markup) with keys in
// locales/kiosk.<lang>.toml, or, for shared wording (PIN names, the PIN
// pad, Go's failure codes), the keys Go and the counter use.
import {
  api,
  ApiError,
  type DemoCardKind,
  type Info,
  type KioskCardView,
  type KioskSettings,
  type KioskStatusView,
  type PINEntry,
  type PINKind,
  type PINView,
  type ProcedureOutcome,
  type ProcedureRequest,
  type ProcedureView,
} from './api';
import { h } from './dom';
import { dateMarkup, isoDate, messageMarkup, pinMarkup } from './format';
import { has, lang, rich, setCatalog, tnRich, tPlain, tRich, type RichData } from './i18n';
import { PinPad, type PadSpec } from './pinpad';

type Proc = 'status_check' | 'phone' | 'puk_unlock' | 'reserved_reset';
type Step = 'which' | 'card' | 'pin' | 'result';
type Screen = 'attract' | 'language' | 'menu' | Step | 'takecard';

/** The menu, in its order: looking first, then changing. */
const procs: Proc[] = ['status_check', 'phone', 'puk_unlock', 'reserved_reset'];

/** The steps of each procedure: as few screens and entries as possible. */
const flows: Record<Proc, Step[]> = {
  status_check: ['card', 'result'],
  phone: ['card', 'result'],
  puk_unlock: ['card', 'pin', 'pin', 'result'],
  reserved_reset: ['which', 'card', 'pin', 'pin', 'result'],
};

const demoKinds: DemoCardKind[] = ['issued', 'due', 'issued-next', 'due-next'];
// The demo panel's "the card already on the reader" (no new card).
const DEMO_CURRENT = 'current';

const TOUCH_EVERY_MS = 2000;
const POLL_MS = 800;
const TAKE_CARD_MS = 8000;
const CYCLE_MS = 2500;
const EXIT_IDLE_MS = 60_000;

interface Msg {
  key: string;
  count?: number;
  data?: RichData;
}

/** Everything of the citizen at the screen: dropped whole at the end. */
interface Citizen {
  proc?: Proc;
  index: number;
  target: 'sign' | 'auth';
  card?: KioskCardView;
  status?: KioskStatusView;
  pads: PinPad[];
  outcome?: ProcedureOutcome;
  noPUK: boolean;
  error?: Msg;
  padProblem: boolean;
  busy: boolean;
  reading: boolean;
}

function fresh(): Citizen {
  return { index: 0, target: 'sign', pads: [], noPUK: false, padProblem: false, busy: false, reading: false };
}

let info: Info;
let settings: KioskSettings = { idleSeconds: 60, warnSeconds: 15, shuffle: true, languages: [] };
let defaultLang = 'ja';
let screen: Screen = 'attract';
let c: Citizen = fresh();
let procedures: ProcedureView[] = [];
// Bumped whenever the citizen's session ends: late answers of the old one are dropped.
let epoch = 0;

const root = document.getElementById('app')!;
const top = h('div', { class: 'kiosk-top' });
const stage = h('div', { class: 'kiosk-stage' });
// One polite live region that stays in the page: results and card events.
const live = h('p', { class: 'sr-only', id: 'kiosk-live', 'aria-live': 'polite', 'aria-atomic': 'true' });
const dialogs = h('div', { class: 'kiosk-dialogs' });

// ---- start

/** startKiosk takes over the page for kiosk mode. */
export async function startKiosk(i: Info): Promise<void> {
  info = i;
  defaultLang = i.language;
  root.removeAttribute('aria-live'); // the page is not one live region here
  root.classList.add('kiosk');
  document.documentElement.dataset.mode = 'kiosk';
  if (new URLSearchParams(location.search).get('test') === '1') {
    // For the browser tests only: the sanitiser, to feed it hostile markup.
    (window as unknown as { madoguchiRich?: (s: string) => string }).madoguchiRich = (s: string) => {
      const div = document.createElement('div');
      div.append(rich(s));
      return div.innerHTML;
    };
  }
  try {
    settings = await api.KioskSettings();
  } catch {
    /* the defaults above */
  }
  await loadLang(defaultLang);
  root.replaceChildren(top, stage, live, dialogs);
  document.addEventListener('pointerdown', (e) => activity(e), true);
  document.addEventListener('keydown', (e) => onKey(e), true);
  window.setInterval(tick, 250);
  showAttract();
  void loadGreetings();
}

async function loadLang(tag: string): Promise<void> {
  setCatalog(await api.Catalog(tag));
}

function languages() {
  return settings.languages ?? info.languages;
}

// ---- the attract screen's greetings, in every language

interface Greeting {
  tag: string;
  touch: string;
  choose: string;
}
let greetings: Greeting[] = [];
let cycleTimer = 0;
let cycleAt = 0;

async function loadGreetings(): Promise<void> {
  const out: Greeting[] = [];
  for (const l of languages()) {
    try {
      const cat = await api.Catalog(l.tag);
      const touch = cat.messages['kiosk.attract.touch'];
      const choose = cat.messages['kiosk.language.title'];
      // A language whose kiosk texts are not translated yet says nothing.
      if (cat.lang === l.tag && touch && choose) out.push({ tag: l.tag, touch, choose });
    } catch {
      /* skip it */
    }
  }
  // A language whose kiosk file is not there yet falls back to Japanese: shown once.
  const seen = new Set<string>();
  greetings = out.filter((g) => {
    if (seen.has(g.touch)) return false;
    seen.add(g.touch);
    return true;
  });
  startCycle();
}

function startCycle(): void {
  window.clearInterval(cycleTimer);
  cycleAt = 0;
  const show = () => {
    const el = document.getElementById('greeting');
    if (!el || greetings.length === 0) return;
    const others = greetings.filter((g) => g.tag !== lang());
    if (others.length === 0) return;
    const g = others[cycleAt++ % others.length];
    el.lang = g.tag;
    el.replaceChildren(rich(screen === 'language' ? g.choose : g.touch));
    el.classList.remove('fade');
    void el.offsetWidth; // restart the fade
    el.classList.add('fade');
  };
  show();
  cycleTimer = window.setInterval(show, CYCLE_MS);
}

// ---- activity and the idle timeout

let idleOn = false;
let lastActivity = 0;
let lastTouchSent = 0;
let trailingTouch = 0;
let warnShown = -1;
let idleDialog: HTMLDialogElement | undefined;

/** touch tells Go of activity: at once, or at the end of the 2-s window. */
function touch(): void {
  const wait = lastTouchSent + TOUCH_EVERY_MS - Date.now();
  const send = () => {
    trailingTouch = 0;
    lastTouchSent = Date.now();
    void api.KioskTouch().catch(() => undefined);
  };
  if (wait <= 0) send();
  else if (!trailingTouch) trailingTouch = window.setTimeout(send, wait);
}

function activity(e?: Event): void {
  if (!idleOn) return;
  // The warning's own buttons say what they mean.
  if (idleDialog && e && e.target instanceof Node && e.target !== idleDialog && idleDialog.contains(e.target)) return;
  lastActivity = Date.now();
  touch();
  if (idleDialog) closeIdleDialog();
}

function idleStart(): void {
  idleOn = true;
  lastActivity = Date.now();
}

function idleStop(): void {
  idleOn = false;
  window.clearTimeout(trailingTouch);
  trailingTouch = 0;
  closeIdleDialog();
}

function tick(): void {
  if (!idleOn) return;
  const now = Date.now();
  if (c.busy) {
    // A procedure at work is not idleness.
    lastActivity = now;
    return;
  }
  const left = settings.idleSeconds * 1000 - (now - lastActivity);
  if (left <= 0) {
    void timeout();
    return;
  }
  if (left <= settings.warnSeconds * 1000) {
    const secs = Math.ceil(left / 1000);
    if (!idleDialog) openIdleDialog();
    if (secs !== warnShown) {
      warnShown = secs;
      const count = document.getElementById('idle-count');
      count?.replaceChildren(tnRich('kiosk.idle.countdown', secs));
    }
  }
}

function openIdleDialog(): void {
  warnShown = -1;
  const d = h(
    'dialog',
    { id: 'idle-dialog', class: 'kiosk-dialog', 'aria-labelledby': 'idle-title', 'aria-describedby': 'idle-count' },
    h('h2', { id: 'idle-title' }, tRich('kiosk.idle.title')),
    h('p', { id: 'idle-count', class: 'idle-count', 'aria-live': 'polite', 'aria-atomic': 'true' }),
    h('p', {}, tRich('kiosk.idle.why')),
    h(
      'div',
      { class: 'kiosk-nav' },
      h('button', { type: 'button', class: 'secondary', 'data-action': 'idle-end', onclick: () => void timeout() }, tRich('kiosk.idle.end')),
      h(
        'button',
        {
          type: 'button',
          class: 'primary',
          'data-action': 'continue',
          onclick: () => {
            closeIdleDialog();
            activity();
          },
        },
        tRich('kiosk.idle.continue'),
      ),
    ),
  );
  d.addEventListener('cancel', (e) => {
    e.preventDefault(); // Escape: the citizen is there
    closeIdleDialog();
    activity();
  });
  idleDialog = d;
  const back = document.activeElement as HTMLElement | null;
  d.addEventListener('close', () => back?.isConnected && back.focus({ preventScroll: true }));
  dialogs.append(d);
  d.showModal();
  d.querySelector<HTMLElement>('[data-action="continue"]')?.focus();
  tick();
}

function closeIdleDialog(): void {
  const d = idleDialog;
  if (!d) return;
  idleDialog = undefined;
  warnShown = -1;
  if (d.open) d.close();
  d.remove();
}

async function timeout(): Promise<void> {
  await reset();
}

/**
 * reset ends the citizen's session: Go forgets the card and the language,
 * the page everything typed and read, and the attract screen is back in
 * the terminal's own language.
 */
async function reset(): Promise<void> {
  epoch++;
  idleStop();
  stopPolling();
  window.clearTimeout(takeTimer);
  forget();
  screen = 'attract';
  // Nothing of the citizen stays on screen while Go ends the session.
  stage.replaceChildren();
  live.textContent = '';
  try {
    await api.KioskEnd();
  } catch {
    /* Go's own timer ends it anyway */
  }
  try {
    if (lang() !== defaultLang) await loadLang(defaultLang);
  } catch {
    /* keep the language */
  }
  showAttract();
}

/** forget drops the citizen's state and empties the PIN pads. */
function forget(): void {
  for (const p of c.pads) p.clear();
  c.pads = [];
  c = fresh();
}

function onKey(e: KeyboardEvent): void {
  activity(e);
  // Digits typed anywhere on a PIN step go into the PIN pad.
  if (screen !== 'pin' || e.ctrlKey || e.metaKey || e.altKey || e.key.length !== 1 || !/[0-9A-Za-z]/.test(e.key)) return;
  const el = document.activeElement;
  if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement) return;
  if (document.querySelector('dialog[open]')) return;
  currentPad()?.focus();
}

// ---- painting

function demoBanner(): HTMLElement | null {
  if (!info.demo) return null;
  return h('div', { class: 'demo-banner', id: 'demo-banner', role: 'note' }, h('strong', {}, tRich('demo.badge')), ' ', tRich('demo.banner'));
}

type Child = Node | string | null | undefined | false;

/** paint rebuilds the screen; focus: the heading, an element, or "keep". */
function paint(focus: 'heading' | 'keep' | string = 'heading'): void {
  const active = document.activeElement as HTMLElement | null;
  const prevId = active && stage.contains(active) ? active.id : '';
  root.dataset.screen = screen;
  const pad = screen === 'pin' ? currentPad() : undefined;
  root.dataset.view = pad ? `pin:${pad.spec.id}` : screen;
  root.setAttribute('aria-busy', c.busy ? 'true' : 'false');
  const banner = demoBanner();
  top.replaceChildren(...(banner ? [banner] : []));
  stage.replaceChildren(...view());
  if (c.busy) for (const b of stage.querySelectorAll<HTMLButtonElement | HTMLInputElement>('.kiosk-main button, .kiosk-main input')) b.disabled = true;
  const heading = document.getElementById('step-title');
  if (focus === 'heading') heading?.focus({ preventScroll: false });
  else if (focus === 'keep') (prevId ? document.getElementById(prevId) : null)?.focus({ preventScroll: true });
  else (stage.querySelector<HTMLElement>(focus) ?? heading)?.focus();
}

function view(): HTMLElement[] {
  switch (screen) {
    case 'attract':
      return attractView();
    case 'language':
      return [main(languageView())];
    case 'menu':
      return [main(menuView())];
    case 'takecard':
      return [main(takeCardView())];
    default:
      return [main(stepView()), ...(screen === 'card' ? [demoPanel()] : [])].filter((x): x is HTMLElement => x !== null);
  }
}

function main(...children: Child[]): HTMLElement {
  return h('main', { class: 'kiosk-main', id: 'main' }, ...children);
}

function button(action: string, label: Node | string, onclick: () => void, cls = ''): HTMLButtonElement {
  return h('button', { type: 'button', class: cls, 'data-action': action, onclick }, label);
}

/** cardArt is the card and the reader, animated: placing it, or taking it. */
function cardArt(kind: 'place' | 'take' | 'idle'): HTMLElement {
  return h(
    'div',
    { class: `card-art ${kind}`, 'aria-hidden': 'true' },
    h('div', { class: 'art-reader' }, h('span', { class: 'art-light' })),
    h('div', { class: 'art-card' }, h('span', { class: 'art-chip' }), h('span', { class: 'art-photo' }), h('span', { class: 'art-lines' })),
    kind === 'take' ? h('span', { class: 'art-arrow' }, '↑') : kind === 'place' ? h('span', { class: 'art-arrow' }, '↓') : null,
  );
}

// ---- attract, language, menu

function showAttract(): void {
  screen = 'attract';
  idleStop();
  paint('keep');
  document.getElementById('kiosk-start')?.setAttribute('data-ready', 'true');
  startCycle();
}

function attractView(): HTMLElement[] {
  const start = h(
    'button',
    { type: 'button', id: 'kiosk-start', class: 'attract-start', 'aria-describedby': 'attract-hint', onclick: () => begin() },
    h('span', { class: 'attract-touch' }, tRich('kiosk.attract.touch')),
    h('span', { class: 'attract-greeting', id: 'greeting', 'aria-hidden': 'true' }),
  );
  return [
    h(
      'main',
      { class: 'kiosk-main attract', id: 'main' },
      h('h1', { class: 'attract-title', id: 'step-title', tabindex: '-1' }, tRich('kiosk.attract.title')),
      cardArt('idle'),
      start,
      h('p', { class: 'attract-hint', id: 'attract-hint' }, tRich('kiosk.attract.hint')),
    ),
    h(
      'footer',
      { class: 'kiosk-foot' },
      h(
        'button',
        { type: 'button', id: 'kiosk-supervisor', class: 'supervisor-corner', 'aria-label': tPlain('kiosk.exit.open'), onclick: () => openExitDialog() },
        tRich('kiosk.exit.corner'),
      ),
    ),
  ];
}

function begin(): void {
  window.clearInterval(cycleTimer);
  epoch++;
  forget();
  screen = 'language';
  idleStart();
  paint();
  startCycle();
}

function languageView(): HTMLElement {
  return h(
    'section',
    { class: 'kiosk-languages', 'aria-labelledby': 'step-title' },
    h('h1', { id: 'step-title', tabindex: '-1' }, tRich('kiosk.language.title')),
    h('p', { class: 'greeting-line', id: 'greeting', 'aria-hidden': 'true' }),
    h(
      'ul',
      { class: 'lang-grid', role: 'list' },
      languages().map((l) =>
        h(
          'li',
          {},
          h('button', { type: 'button', class: 'lang-choice', lang: l.tag, 'data-lang': l.tag, onclick: () => void chooseLanguage(l.tag) }, l.native),
        ),
      ),
    ),
    h('div', { class: 'kiosk-nav' }, button('cancel', tRich('kiosk.nav.cancel'), () => void reset(), 'secondary')),
  );
}

async function chooseLanguage(tag: string): Promise<void> {
  const my = epoch;
  window.clearInterval(cycleTimer);
  try {
    await loadLang(tag);
    await api.KioskStart(tag);
    procedures = await api.Procedures('kiosk').catch(() => procedures);
  } catch (e) {
    if (my !== epoch) return;
    c.error = errMsg(e);
  }
  if (my !== epoch) return;
  lastTouchSent = Date.now();
  screen = 'menu';
  paint();
}

function procView(p: Proc): ProcedureView | undefined {
  // The kiosk's smartphone item shows the status only: it is part of the
  // status check (app.KioskStatus), whatever the counter's storing of a
  // credential on a phone ("phone") can do yet.
  const id = p === 'phone' ? 'status_check' : p;
  return procedures.find((v) => v.id === id);
}

function menuView(): HTMLElement {
  return h(
    'section',
    { class: 'kiosk-menu', 'aria-labelledby': 'step-title' },
    h('h1', { id: 'step-title', tabindex: '-1' }, tRich('kiosk.menu.title')),
    c.error ? errorBox() : null,
    h(
      'ul',
      { class: 'proc-grid', role: 'list' },
      procs.map((p) => {
        const v = procView(p);
        const off = v !== undefined && !v.available;
        const note = v?.note ? h('span', { class: 'proc-note', id: `note-${p}` }, tRich(v.note)) : null;
        return h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              class: 'proc-choice',
              'data-proc': p,
              disabled: off,
              'aria-describedby': `desc-${p}${note ? ` note-${p}` : ''}`,
              onclick: () => startProc(p),
            },
            h('span', { class: 'proc-title' }, tRich(`kiosk.menu.${p}.title`)),
            h('span', { class: 'proc-desc', id: `desc-${p}` }, tRich(`kiosk.menu.${p}.desc`)),
            note,
          ),
        );
      }),
    ),
    h(
      'div',
      { class: 'kiosk-nav' },
      button('language', tRich('kiosk.nav.language'), () => {
        screen = 'language';
        c.error = undefined;
        paint();
        startCycle();
      }),
      button('finish', tRich('kiosk.nav.finish'), () => void reset(), 'secondary'),
    ),
  );
}

// ---- the procedures' steps

function steps(): Step[] {
  return c.proc ? flows[c.proc] : [];
}

function step(): Step {
  return steps()[c.index] ?? 'result';
}

function padIndex(): number {
  return steps()
    .slice(0, c.index)
    .filter((s) => s === 'pin').length;
}

function currentPad(): PinPad | undefined {
  return step() === 'pin' ? c.pads[padIndex()] : undefined;
}

function startProc(p: Proc): void {
  c = fresh();
  c.proc = p;
  // For the supervisor's funnel figures (no personal data).
  void api.KioskChoose(p).catch(() => undefined);
  enter(0);
}

function enter(i: number, focus = 'heading'): void {
  c.index = i;
  c.error = undefined;
  c.padProblem = false;
  screen = step();
  paint(focus);
  // A real reader is watched for the card. The demo's built-in reader
  // always holds a card: there the demo panel says when it is placed.
  if (screen === 'card' && !info.demo) startPolling();
  else stopPolling();
}

function errMsg(e: unknown): Msg {
  return { key: e instanceof ApiError ? e.code : 'error.internal' };
}

function errorBox(): HTMLElement | null {
  const m = c.error;
  if (!m) return null;
  return h('p', { class: 'error kiosk-error', id: 'step-error', role: 'alert', tabindex: '-1' }, richMessage(m));
}

/** richMessage is a message that may have plural forms, its PIN named in the current language. */
function richMessage(m: Msg): DocumentFragment {
  const data: RichData = { ...(m.data ?? {}) };
  const kind = typeof data.PINKind === 'string' ? data.PINKind : '';
  if (kind) data.PIN = pinMarkup(kind);
  return rich(messageMarkup(m.key, m.count ?? 0, data).text);
}

function progress(): HTMLElement {
  const all = steps();
  return h(
    'div',
    { class: 'kiosk-progress' },
    h('p', { class: 'kiosk-procedure' }, tRich(`kiosk.menu.${c.proc}.title`)),
    h('p', { class: 'progress-count', id: 'progress' }, tRich('kiosk.progress', { N: c.index + 1, M: all.length })),
    h(
      'ol',
      { class: 'progress-bar', 'aria-hidden': 'true' },
      all.map((_, i) => h('li', { class: i < c.index ? 'done' : i === c.index ? 'current' : '' })),
    ),
  );
}

interface View {
  title: DocumentFragment;
  body: Child[];
  nav: Child[];
}

function stepView(): HTMLElement {
  const v = (() => {
    switch (step()) {
      case 'which':
        return whichStep();
      case 'card':
        return cardStep();
      case 'pin':
        return pinStep();
      case 'result':
        return resultStep();
    }
  })();
  return h(
    'section',
    { class: 'kiosk-step', 'data-step': step(), 'data-proc': c.proc ?? '', 'aria-labelledby': 'step-title' },
    progress(),
    h('h1', { id: 'step-title', tabindex: '-1' }, v.title),
    ...v.body,
    errorBox(),
    problemBox(),
    c.busy ? h('p', { class: 'busy', role: 'status' }, tRich('kiosk.busy')) : null,
    h('div', { class: 'kiosk-nav' }, ...v.nav),
  );
}

function cancelButton(): HTMLButtonElement {
  // Once the card was read, the citizen is reminded to take it.
  return button('cancel', tRich('kiosk.nav.cancel'), () => (c.card ? takeCard() : void reset()), 'secondary');
}

// which PIN (reserved reset)

function whichStep(): View {
  const choice = (target: 'sign' | 'auth') =>
    h(
      'button',
      {
        type: 'button',
        class: 'proc-choice',
        'data-target': target,
        'aria-describedby': `target-${target}-desc`,
        onclick: () => {
          c.target = target;
          enter(c.index + 1);
        },
      },
      h('span', { class: 'proc-title' }, tRich(`kiosk.reserved.target.${target}`)),
      h('span', { class: 'proc-desc', id: `target-${target}-desc` }, tRich(`kiosk.reserved.target.${target}_desc`)),
    );
  return {
    title: tRich('kiosk.reserved.title'),
    body: [
      h('p', { class: 'kiosk-lead' }, tRich('kiosk.reserved.intro')),
      h('p', { class: 'info' }, tRich('kiosk.reserved.need')),
      h('ul', { class: 'proc-grid two', role: 'list' }, h('li', {}, choice('sign')), h('li', {}, choice('auth'))),
    ],
    nav: [cancelButton()],
  };
}

// the card

let pollTimer = 0;
let polling = false;

function startPolling(): void {
  stopPolling();
  polling = true;
  const my = epoch;
  const poll = async () => {
    if (!polling || my !== epoch || screen !== 'card' || c.busy) return;
    try {
      const card = await api.KioskCard();
      if (!polling || my !== epoch || screen !== 'card') return;
      stopPolling();
      await cardRead(card);
      return;
    } catch (e) {
      if (!polling || my !== epoch || screen !== 'card') return;
      const m = errMsg(e);
      // No card yet: keep waiting quietly. Anything else is said.
      if (m.key !== 'counter.error.no_card' && c.error?.key !== m.key) {
        c.error = m;
        paint('keep');
      } else if (m.key === 'counter.error.no_card' && c.error) {
        c.error = undefined;
        paint('keep');
      }
    }
    pollTimer = window.setTimeout(() => void poll(), POLL_MS);
  };
  pollTimer = window.setTimeout(() => void poll(), 100);
}

function stopPolling(): void {
  polling = false;
  window.clearTimeout(pollTimer);
}

async function cardRead(card: KioskCardView): Promise<void> {
  const my = epoch;
  c.card = card;
  c.error = undefined;
  live.textContent = tPlain('kiosk.card.read');
  activity();
  switch (c.proc) {
    case 'status_check':
    case 'phone':
      await busy(async () => {
        const s = await api.KioskStatus();
        if (my === epoch) c.status = s;
      });
      if (my !== epoch) return;
      if (c.status) toResult();
      // else the error is shown, with "read again"
      return;
    case 'puk_unlock':
      if (!card.hasPUK) {
        c.noPUK = true;
        toResult();
        return;
      }
      makePads();
      enter(c.index + 1);
      return;
    case 'reserved_reset':
      makePads();
      enter(c.index + 1);
      return;
  }
}

function cardStep(): View {
  return {
    title: tRich('kiosk.card.title'),
    body: [
      h(
        'div',
        { class: 'card-place' },
        cardArt('place'),
        h(
          'div',
          { class: 'card-text' },
          h('p', { class: 'kiosk-lead' }, tRich('kiosk.card.intro')),
          h('p', {}, tRich('kiosk.card.once')),
          h('p', { class: 'card-status', id: 'card-status', role: 'status' }, tRich(c.busy ? 'kiosk.card.reading' : 'kiosk.card.waiting')),
        ),
      ),
    ],
    nav: [
      cancelButton(),
      c.error && !polling && !c.busy
        ? button('read-again', tRich('kiosk.card.again'), () => {
            c.error = undefined;
            c.card = undefined;
            paint('keep');
            startPolling();
          }, 'primary')
        : null,
    ],
  };
}

function demoPanel(): HTMLElement | null {
  if (!info.demo) return null;
  return h(
    'aside',
    { class: 'kiosk-demo', 'aria-labelledby': 'demo-title' },
    h('h2', { id: 'demo-title' }, tRich('kiosk.demo.title')),
    h(
      'div',
      { class: 'demo-buttons' },
      [...demoKinds, DEMO_CURRENT].map((k) =>
        h(
          'button',
          {
            type: 'button',
            'data-demo': k,
            onclick: () => {
              const my = epoch;
              stopPolling();
              if (k === DEMO_CURRENT) {
                startPolling();
                return;
              }
              // The card view DemoInsert returns (the holder's record) is not kept.
              void api
                .DemoInsert(k as DemoCardKind)
                .then(
                  () => undefined,
                  (e) => {
                    if (my === epoch) c.error = errMsg(e);
                  },
                )
                .then(() => {
                  if (my !== epoch || screen !== 'card') return;
                  if (c.error) paint('keep');
                  startPolling();
                });
            },
          },
          // (the counter's "read the card": no new message for the translators)
          k === DEMO_CURRENT ? tRich('counter.card.read') : tRich(`kiosk.demo.${k}`),
        ),
      ),
    ),
  );
}

/** busy runs a call with the buttons disabled; an error lands on the step. */
async function busy(fn: () => Promise<void>): Promise<void> {
  const my = epoch;
  c.busy = true;
  c.error = undefined;
  paint('keep');
  try {
    await fn();
  } catch (e) {
    if (my === epoch) c.error = errMsg(e);
  }
  if (my !== epoch) return;
  c.busy = false;
  lastActivity = Date.now();
  touch();
  paint(c.error ? '#step-error' : 'keep');
}

// the PINs

const defaults: Record<PINKind, { min: number; max: number; digits: boolean }> = {
  auth: { min: 4, max: 4, digits: true },
  sign: { min: 6, max: 16, digits: false },
  'input-assist': { min: 4, max: 4, digits: true },
  resident: { min: 4, max: 4, digits: true },
  puk: { min: 8, max: 8, digits: true },
};

function pinView(kind: PINKind): PINView | undefined {
  return c.card?.pins?.find((p) => p.kind === kind);
}

function spec(id: string, kind: PINKind, mode: 'new' | 'existing'): PadSpec {
  const v = pinView(kind);
  const d = v ?? defaults[kind];
  const s: PadSpec = { id, kind, min: d.min, max: d.max, digits: d.digits, mode, shuffle: settings.shuffle, rich: true };
  if (mode === 'existing') {
    s.tries = v?.tries ?? -1;
    s.notice = v?.notice;
  }
  return s;
}

function otherPIN(): PINKind {
  return c.target === 'sign' ? 'auth' : 'sign';
}

function makePads(): void {
  for (const p of c.pads) p.clear();
  const onChange = () => updateProblem();
  c.pads =
    c.proc === 'puk_unlock'
      ? [new PinPad(spec('pad-puk', 'puk', 'existing'), onChange), new PinPad(spec('pad-new', 'auth', 'new'), onChange)]
      : [new PinPad(spec('pad-old', otherPIN(), 'existing'), onChange), new PinPad(spec('pad-new', c.target, 'new'), onChange)];
}

function problemBox(): HTMLElement | null {
  if (!c.padProblem) return null;
  const p = currentPad()?.problem();
  if (!p) return null;
  return h('div', { class: 'problems', id: 'step-problems', role: 'alert', tabindex: '-1' }, h('p', {}, rich(p)));
}

function updateProblem(): void {
  if (!c.padProblem) return;
  const box = document.getElementById('step-problems');
  const p = currentPad()?.problem() ?? '';
  if (p === '') {
    c.padProblem = false;
    box?.remove();
  } else box?.replaceChildren(h('p', {}, rich(p)));
}

function pinStep(): View {
  const pad = currentPad();
  if (!pad) return { title: tRich('kiosk.card.title'), body: [], nav: [cancelButton()] };
  const s = pad.spec;
  const name = pinMarkup(s.kind);
  const i = padIndex();
  const last = i === c.pads.length - 1;
  const intro =
    s.kind === 'puk'
      ? 'kiosk.pin.intro_puk'
      : s.mode === 'new'
        ? c.proc === 'puk_unlock'
          ? 'kiosk.pin.intro_new_unlock'
          : 'kiosk.pin.intro_new'
        : 'kiosk.pin.intro_other';
  const nav: Child[] = [];
  if (i > 0)
    nav.push(
      button('back', tRich('kiosk.nav.back'), () => {
        c.padProblem = false;
        enter(c.index - 1);
      }),
    );
  nav.push(cancelButton());
  nav.push(
    button(
      'next',
      tRich(last ? `kiosk.run.${c.proc}` : 'kiosk.nav.next'),
      async () => {
        const my = epoch;
        await pad.settled();
        if (my !== epoch || c.busy || currentPad() !== pad) return;
        if (!pad.ready()) {
          c.padProblem = true;
          paint('#step-problems');
          return;
        }
        c.padProblem = false;
        if (!last) enter(c.index + 1);
        else void run();
      },
      'primary',
    ),
  );
  return {
    title: tRich(s.mode === 'new' ? 'kiosk.pin.title_new' : 'kiosk.pin.title_existing', { PIN: name }),
    body: [h('p', { class: 'kiosk-lead' }, tRich(intro, { PIN: name })), pad.el()],
    nav,
  };
}

async function run(): Promise<void> {
  const my = epoch;
  const proc = c.proc;
  if (proc !== 'puk_unlock' && proc !== 'reserved_reset') return;
  const [first, second] = c.pads;
  const pins: PINEntry[] =
    proc === 'puk_unlock'
      ? [
          { kind: 'puk', value: first.take() },
          { kind: 'auth', value: second.take() },
        ]
      : [
          { kind: otherPIN(), value: first.take() },
          { kind: 'new', value: second.take() },
        ];
  const req: ProcedureRequest = {
    procedure: proc,
    identity: { documents: [], proxy: false, legalRepresentative: false, faceMatched: false },
    pins,
    entries: pins.length,
    lang: lang(),
  };
  if (proc === 'reserved_reset') req.target = c.target;
  // The PINs leave the pads now: nothing of them stays on screen.
  for (const p of c.pads) p.clear();
  let outcome: ProcedureOutcome | undefined;
  await busy(async () => {
    try {
      outcome = await api.KioskRun(req);
    } finally {
      req.pins = [];
    }
  });
  if (my !== epoch) return;
  if (outcome) {
    c.outcome = outcome;
    toResult();
  } else {
    // An error before the procedure ran: the PINs are typed again.
    makePads();
    const firstPin = steps().indexOf('pin');
    const err = c.error;
    enter(firstPin);
    c.error = err;
    paint('#step-error');
  }
}

// the result

function toResult(): void {
  for (const p of c.pads) p.clear();
  enter(steps().indexOf('result'));
  const o = c.outcome;
  live.textContent =
    c.status !== undefined
      ? tPlain(c.proc === 'phone' ? 'kiosk.phone.title' : 'kiosk.status.title')
      : c.noPUK
        ? tPlain('kiosk.puk.none_title')
        : o?.ok
          ? tPlain('kiosk.result.ok_title')
          : tPlain('kiosk.result.failed_title');
}

function resultStep(): View {
  const finish = button('finish', tRich('kiosk.nav.finish'), () => takeCard(), 'primary');
  const reminder = h('div', { class: 'take-reminder' }, cardArt('take'), h('p', {}, tRich('kiosk.take.reminder')));
  if (c.status && c.proc === 'phone') return { title: tRich('kiosk.phone.title'), body: [phoneView(c.status), reminder], nav: [finish] };
  if (c.status) return { title: tRich('kiosk.status.title'), body: [statusView(c.status), reminder], nav: [finish] };
  if (c.noPUK) {
    return {
      title: tRich('kiosk.puk.none_title'),
      body: [h('div', { class: 'kiosk-result', 'data-result': 'no-puk' }, h('p', { class: 'kiosk-lead' }, tRich('kiosk.puk.none')), h('p', {}, tRich('kiosk.puk.none_next'))), reminder],
      nav: [finish],
    };
  }
  const o = c.outcome;
  if (!o) return { title: tRich('kiosk.result.failed_title'), body: [reminder], nav: [finish] };
  if (o.ok) {
    return {
      title: tRich('kiosk.result.ok_title'),
      body: [
        h(
          'div',
          { class: 'kiosk-result', 'data-result': 'ok' },
          h('p', { class: 'result-ok' }, tRich(`kiosk.result.done.${o.procedure || c.proc}`)),
          o.receipt ? h('p', { class: 'receipt-line' }, tRich('kiosk.result.receipt', { Number: o.receipt })) : null,
          o.printed ? h('p', { 'data-result': 'printed' }, tRich(o.printed)) : null,
          (o.notices ?? []).length > 0 ? h('ul', { class: 'notices' }, (o.notices ?? []).map((n) => h('li', {}, tRich(n)))) : null,
          o.queued ? h('p', { class: 'note', 'data-result': 'queued' }, tRich('kiosk.result.queued')) : null,
        ),
        reminder,
      ],
      nav: [finish],
    };
  }
  const f = o.failure;
  const code = f?.code ?? 'flow.error.failed';
  const short = code.slice(code.lastIndexOf('.') + 1);
  const own = `kiosk.failure.${short}`;
  const text = has(own) ? tRich(own) : richMessage({ key: code, count: f?.count ?? 0, data: f?.data as RichData | undefined });
  const wrongPIN = code.startsWith('pin.wrong.') && code !== 'pin.wrong.blocked' && code !== 'pin.wrong.blocked_puk';
  const nav: Child[] = [];
  if (wrongPIN || f?.resume) nav.push(button('retry', tRich('kiosk.nav.retry'), () => void retry(), 'secondary'));
  nav.push(finish);
  return {
    title: tRich('kiosk.result.failed_title'),
    body: [
      h(
        'div',
        { class: 'kiosk-result', 'data-result': 'failure', 'data-code': code },
        h('p', { class: 'error kiosk-error' }, text),
        short === 'no_reservation' ? h('p', { class: 'info', 'data-result': 'help' }, tRich('kiosk.reserved.how')) : null,
      ),
      reminder,
    ],
    nav,
  };
}

/** retry reads the card again (the tries left now) and asks for the PINs again. */
async function retry(): Promise<void> {
  const my = epoch;
  await busy(async () => {
    const card = await api.KioskCard();
    if (my === epoch) c.card = card;
  });
  if (my !== epoch || c.error) return;
  c.outcome = undefined;
  makePads();
  enter(steps().indexOf('pin'));
}

function certState(state: string): DocumentFragment {
  return tRich(has(`kiosk.cert.${state}`) ? `kiosk.cert.${state}` : 'kiosk.cert.unknown');
}

function statusView(s: KioskStatusView): HTMLElement {
  const e = s.expiry;
  const item = (which: 'card' | 'auth' | 'sign', iso: string | undefined, due: boolean, state?: string) =>
    h(
      'li',
      { class: `expiry-item${due ? ' due' : ''}`, 'data-expiry': which, 'data-iso': isoDate(iso), 'data-due': due ? 'true' : 'false' },
      h('span', { class: 'expiry-label' }, tRich(`kiosk.status.${which}`)),
      h('span', { class: 'expiry-date' }, iso ? tRich('kiosk.status.until', { Date: dateMarkup(iso) }) : tRich('kiosk.status.none')),
      state !== undefined && iso ? h('span', { class: `cert-state state-${state}`, 'data-cert-state': state }, certState(state)) : null,
      due ? h('span', { class: 'badge warn' }, tRich('kiosk.status.due')) : null,
    );
  const dueNotes: HTMLElement[] = [];
  if (e.cardDue) dueNotes.push(h('li', { 'data-due-note': 'card' }, tRich('kiosk.status.due_card')));
  if (e.authDue || e.signDue) dueNotes.push(h('li', { 'data-due-note': 'cert' }, tRich('kiosk.status.due_cert')));
  return h(
    'div',
    { class: 'kiosk-result', 'data-result': 'status', id: 'kiosk-status' },
    h('p', { class: 'kiosk-lead', 'data-field': 'generation' }, tRich(`kiosk.generation.${s.generation}`)),
    h('h2', {}, tRich('kiosk.status.dates')),
    h(
      'ul',
      { class: 'expiry-grid', role: 'list', id: 'status-expiry' },
      item('card', e.card, e.cardDue),
      item('auth', e.auth, e.authDue, s.authState),
      item('sign', e.sign, e.signDue, s.signState),
    ),
    dueNotes.length > 0 ? h('ul', { class: 'due-notes' }, dueNotes) : null,
    h('p', { class: 'note', 'data-field': 'online' }, tRich(s.online ? 'kiosk.status.online' : 'kiosk.status.offline')),
    h('h2', {}, tRich('kiosk.status.pins')),
    h(
      'ul',
      { class: 'tries-list', id: 'status-pins' },
      (s.pins ?? []).map((p) =>
        h(
          'li',
          { 'data-pin': p.kind, 'data-tries': String(p.tries), class: p.tries === 0 ? 'blocked' : p.tries === 1 ? 'last' : '' },
          h('span', { class: 'pin-name' }, tRich('kiosk.status.pin_name', { PIN: pinMarkup(p.kind) })),
          h(
            'span',
            { class: 'pin-tries' },
            p.tries < 0
              ? tRich('kiosk.status.tries_unknown')
              : p.tries === 0
                ? tRich('kiosk.status.blocked')
                : tnRich('kiosk.status.tries', p.tries, { Max: p.maxTries }),
          ),
        ),
      ),
    ),
  );
}

function phoneView(s: KioskStatusView): HTMLElement {
  const phones = s.phones ?? [];
  return h(
    'div',
    { class: 'kiosk-result', 'data-result': 'phones', id: 'kiosk-phones' },
    !s.online
      ? h('p', { class: 'info', 'data-field': 'online' }, tRich('kiosk.phone.offline'))
      : phones.length === 0
        ? h('p', { class: 'kiosk-lead', 'data-phones': '0' }, tRich('kiosk.phone.none'))
        : h(
            'ul',
            { class: 'phone-list', 'data-phones': String(phones.length) },
            phones.map((p) =>
              h(
                'li',
                { 'data-phone-state': p.state, 'data-iso': isoDate(p.notAfter) },
                h('span', { class: 'phone-state' }, certState(p.state)),
                p.notAfter && !p.notAfter.startsWith('0001-') ? h('span', {}, tRich('kiosk.status.until', { Date: dateMarkup(p.notAfter) })) : null,
              ),
            ),
          ),
    h('p', { class: 'note' }, tRich('kiosk.phone.one_per_person')),
  );
}

// ---- take the card

let takeTimer = 0;

/** takeCard ends the session and reminds the citizen to take the card. */
function takeCard(): void {
  epoch++;
  stopPolling();
  idleStop();
  forget();
  void api.KioskEnd().catch(() => undefined);
  screen = 'takecard';
  paint();
  live.textContent = tPlain('kiosk.take.title');
  window.clearTimeout(takeTimer);
  takeTimer = window.setTimeout(() => void reset(), TAKE_CARD_MS);
}

function takeCardView(): HTMLElement {
  return h(
    'section',
    { class: 'kiosk-take', 'aria-labelledby': 'step-title' },
    h('h1', { id: 'step-title', tabindex: '-1' }, tRich('kiosk.take.title')),
    cardArt('take'),
    h('p', { class: 'kiosk-lead' }, tRich('kiosk.take.text')),
    h('div', { class: 'kiosk-nav' }, button('done', tRich('kiosk.take.done'), () => void reset(), 'primary')),
  );
}

// ---- the supervisor's way out

let exitTimer = 0;

function openExitDialog(): void {
  if (document.getElementById('exit-dialog')) return;
  const input = h('input', {
    id: 'exit-code',
    type: 'password',
    class: 'pin-input',
    autocomplete: 'off',
    inputmode: 'numeric',
    spellcheck: 'false',
    'aria-describedby': 'exit-error',
  });
  const error = h('p', { class: 'error', id: 'exit-error', role: 'alert' });
  let sending = false;
  const close = () => {
    window.clearTimeout(exitTimer);
    input.value = '';
    if (d.open) d.close();
    d.remove();
    document.getElementById('kiosk-supervisor')?.focus();
  };
  const keepOpen = () => {
    window.clearTimeout(exitTimer);
    exitTimer = window.setTimeout(close, EXIT_IDLE_MS);
  };
  const submit = async () => {
    if (sending) return;
    sending = true;
    const code = input.value;
    input.value = '';
    try {
      await api.KioskExit(code);
      error.className = 'info';
      error.replaceChildren(tRich('kiosk.exit.done'));
    } catch (e) {
      error.className = 'error';
      error.replaceChildren(tRich(e instanceof ApiError ? e.code : 'error.internal'));
      input.focus();
    }
    sending = false;
    keepOpen();
  };
  const keys = ['1', '2', '3', '4', '5', '6', '7', '8', '9', 'back', '0'];
  const d = h(
    'dialog',
    { id: 'exit-dialog', class: 'kiosk-dialog', 'aria-labelledby': 'exit-title' },
    h(
      'form',
      {
        onsubmit: (e: Event) => {
          e.preventDefault();
          void submit();
        },
        oninput: keepOpen,
      },
      h('h2', { id: 'exit-title' }, tRich('kiosk.exit.title')),
      h('p', {}, tRich('kiosk.exit.intro')),
      h(
        'div',
        { class: 'exit-body' },
        h('div', { class: 'pin-field' }, h('label', { for: 'exit-code' }, tRich('kiosk.exit.code')), input),
        h(
          'div',
          { class: 'keypad', role: 'group', 'aria-label': tPlain('kiosk.exit.keys') },
          keys.map((k) =>
            h(
              'button',
              {
                type: 'button',
                class: `key key-${k.length === 1 ? 'digit' : k}`,
                'data-exit-key': k,
                onmousedown: (e: Event) => e.preventDefault(),
                onclick: () => {
                  input.value = k === 'back' ? input.value.slice(0, -1) : input.value + k;
                  keepOpen();
                },
              },
              k === 'back' ? tRich('counter.pad.key_back') : k,
            ),
          ),
        ),
      ),
      error,
      h(
        'div',
        { class: 'kiosk-nav' },
        h('button', { type: 'button', class: 'secondary', 'data-action': 'exit-cancel', onclick: close }, tRich('kiosk.exit.cancel')),
        h('button', { type: 'submit', class: 'primary', 'data-action': 'exit-submit' }, tRich('kiosk.exit.submit')),
      ),
    ),
  ) as HTMLDialogElement;
  d.addEventListener('cancel', (e) => {
    e.preventDefault();
    close();
  });
  dialogs.append(d);
  d.showModal();
  input.focus();
  keepOpen();
}
