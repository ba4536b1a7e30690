// The counter procedures as small wizards: the clerk places the card,
// checks the citizen's identity, the citizen types the PINs on the PIN pad,
// Go runs the procedure (RunProcedure) and the result screen says what was
// done or where it stopped. One wizard at a time; its element stays the
// same while main.ts re-renders the page around it, so what is typed and
// where the caret is survive the status panel's refreshes.
import {
  api,
  ApiError,
  type CardView,
  type DemoCardKind,
  type DocumentView,
  type Expiry,
  type FaceView,
  type PINEntry,
  type PINKind,
  type PINView,
  type ProcedureID,
  type ProcedureOutcome,
  type ProcedureRequest,
} from './api';
import { h } from './dom';
import { formatDate, isoDate, message, pinName, sexKey, withPINName } from './format';
import { lang, t } from './i18n';
import { PinPad, type PadSpec } from './pinpad';

type StepId = 'card' | 'identity' | 'details' | 'pins' | 'action' | 'result';

/** The steps of each procedure of the counter's list. */
const flows: Record<string, StepId[]> = {
  issuance: ['card', 'identity', 'pins', 'result'],
  card_renewal: ['card', 'identity', 'pins', 'result'],
  cert_renewal: ['card', 'identity', 'pins', 'result'],
  change_of_details: ['card', 'identity', 'details', 'pins', 'result'],
  pin_reset: ['card', 'identity', 'pins', 'result'],
  puk_unlock: ['card', 'pins', 'result'],
  suspension: ['action', 'result'],
  return: ['action', 'result'],
};

const demoCards: DemoCardKind[] = ['blank', 'issued', 'due', 'blank-next', 'issued-next'];

/** isCounterProcedure reports whether a procedure of the list has a wizard here. */
export function isCounterProcedure(id: string): boolean {
  return id in flows;
}

interface Msg {
  key: string;
  count?: number;
  data?: Record<string, string | number>;
}

interface Wizard {
  procedure: string; // the list's id
  run: ProcedureID; // what RunProcedure performs (suspension or suspension_lift)
  label: string; // the procedure's message key
  steps: StepId[];
  index: number;
  busy: boolean;
  error?: Msg; // from Go, on the current step
  problems: Msg[]; // why Next cannot go on
  padProblem: boolean; // show the current pad's problem
  info?: Msg; // a note on the current step
  paintedLang: string;
  // card
  card?: CardView;
  oldSerial: string;
  reissue: boolean;
  // identity
  docs: DocumentView[];
  ticked: Set<string>;
  proxy: boolean;
  legalRep: boolean;
  faceCheck: string;
  face?: FaceView;
  faceMatched: boolean;
  // details
  name: string;
  address: string;
  newSign: boolean;
  // PINs
  shared: boolean;
  target: PINKind;
  pads: PinPad[];
  padIndex: number;
  // suspension and return
  source: 'serial' | 'reader';
  serial: string;
  reason: 'lost' | 'stolen';
  // result
  outcome?: ProcedureOutcome;
  lastRequest?: ProcedureRequest; // without PINs
}

interface Host {
  /** render re-renders the page (the wizard's element included). */
  render(): void;
  /** demo reports whether the terminal runs in demo mode. */
  demo(): boolean;
}

let host: Host = { render: () => undefined, demo: () => false };
let w: Wizard | undefined;
const el = h('section', { class: 'counter', 'aria-labelledby': 'step-title' });

export function initCounter(hst: Host): void {
  host = hst;
}

/** counterActive reports whether a wizard is under way. */
export function counterActive(): boolean {
  return w !== undefined;
}

/** counterView is the wizard's element, repainted when the language changed. */
export function counterView(): HTMLElement {
  if (w && w.paintedLang !== lang()) paint('keep');
  return el;
}

/** startCounter opens the wizard of a procedure of the counter's list. */
export function startCounter(procedure: string, label: string): void {
  const steps = flows[procedure];
  if (!steps) return;
  w = {
    procedure,
    run: procedure as ProcedureID,
    label,
    steps,
    index: 0,
    busy: false,
    problems: [],
    padProblem: false,
    paintedLang: '',
    oldSerial: '',
    reissue: false,
    docs: [],
    ticked: new Set(),
    proxy: false,
    legalRep: false,
    faceCheck: '',
    faceMatched: false,
    name: '',
    address: '',
    newSign: true,
    shared: false,
    target: 'auth',
    pads: [],
    padIndex: 0,
    source: procedure === 'return' ? 'reader' : 'serial',
    serial: '',
    reason: 'lost',
  };
  el.replaceChildren();
  enter(0);
  if (steps.includes('identity')) {
    void api
      .IdentityDocuments()
      .then((d) => {
        if (!w) return;
        w.docs = d ?? [];
        if (step() === 'identity') paint('keep');
      })
      .catch(() => undefined);
  }
}

function step(): StepId {
  return w ? w.steps[w.index] : 'card';
}

/** enter shows step i, its heading focused. */
function enter(i: number): void {
  if (!w) return;
  w.index = i;
  w.problems = [];
  w.padProblem = false;
  w.error = undefined;
  if (step() === 'pins' && w.pads.length === 0) makePads();
  if (step() !== 'pins') clearPads();
  paint('heading');
}

/** end closes the card session and goes back to the procedure list. */
async function end(): Promise<void> {
  clearPads();
  w = undefined;
  el.replaceChildren();
  try {
    await api.CounterEnd();
  } catch {
    /* the session ends with the next card anyway */
  }
  host.render();
  document.querySelector<HTMLElement>('#mode-title')?.focus();
}

function clearPads(): void {
  if (!w) return;
  for (const p of w.pads) p.clear();
  w.pads = [];
  w.padIndex = 0;
}

function errMsg(e: unknown): Msg {
  return { key: e instanceof ApiError ? e.code : 'error.internal' };
}

/** busy runs an API call with the buttons disabled; errors land on the step. */
async function busy(fn: () => Promise<void>, focus = 'keep'): Promise<void> {
  if (!w || w.busy) return;
  w.busy = true;
  w.error = undefined;
  paint('keep');
  try {
    await fn();
  } catch (e) {
    if (w) w.error = errMsg(e);
  }
  if (!w) return;
  w.busy = false;
  paint(w.error ? '#step-error' : focus);
}

// ---- painting

function paint(focus: 'heading' | 'keep' | string): void {
  if (!w) return;
  const active = document.activeElement as HTMLElement | null;
  const prevId = active && el.contains(active) ? active.id : '';
  const caret = active instanceof HTMLInputElement && active.type !== 'checkbox' && active.type !== 'radio' ? active.selectionStart : null;
  w.paintedLang = lang();
  const s = step();
  el.dataset.procedure = w.run;
  el.dataset.step = s;
  el.setAttribute('aria-busy', w.busy ? 'true' : 'false');
  const view = stepView(s);
  const heading = h('h2', { id: 'step-title', tabindex: '-1' }, view.title);
  const parts: (HTMLElement | null)[] = [
    top(),
    heading,
    w.info ? h('p', { class: 'info', role: 'status' }, message(w.info.key, w.info.count, w.info.data)) : null,
    ...view.body,
    w.error
      ? h('p', { class: 'error', id: 'step-error', role: 'alert', tabindex: '-1' }, message(w.error.key, w.error.count, withPINName(w.error.data)))
      : null,
    problemsBox(),
    w.busy ? h('p', { class: 'busy', role: 'status' }, t('counter.busy')) : null,
    h('div', { class: 'wizard-nav' }, view.nav),
  ];
  el.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  if (w.busy) for (const b of el.querySelectorAll<HTMLButtonElement | HTMLInputElement>('button, input')) b.disabled = true;
  if (!el.isConnected) host.render();
  if (focus === 'heading') heading.focus();
  else if (focus === 'keep') {
    const again = prevId ? document.getElementById(prevId) : null;
    again?.focus({ preventScroll: true });
    if (again instanceof HTMLInputElement && caret !== null) again.setSelectionRange(caret, caret);
  } else (el.querySelector<HTMLElement>(focus) ?? heading).focus();
}

function problemsBox(): HTMLElement | null {
  if (!w) return null;
  const texts = w.problems.map((p) => message(p.key, p.count, p.data));
  if (w.padProblem) {
    const p = currentPad()?.problem();
    if (p) texts.push(p);
  }
  if (texts.length === 0) return null;
  return h(
    'div',
    { class: 'problems', id: 'step-problems', role: 'alert', tabindex: '-1' },
    texts.length === 1 ? h('p', {}, texts[0]) : h('ul', {}, texts.map((x) => h('li', {}, x))),
  );
}

/** updatePadProblem refreshes the shown pad problem in place as the citizen types. */
function updatePadProblem(): void {
  if (!w || !w.padProblem) return;
  const box = document.getElementById('step-problems');
  const p = currentPad()?.problem() ?? '';
  if (p === '') {
    w.padProblem = false;
    box?.remove();
  } else if (box) box.replaceChildren(h('p', {}, p));
}

function top(): HTMLElement {
  const ww = w!;
  const visible = ww.steps;
  return h(
    'div',
    { class: 'counter-top' },
    h('p', { class: 'counter-procedure' }, t(ww.label)),
    h('p', { class: 'progress-count', id: 'progress' }, t('counter.progress', { N: ww.index + 1, M: visible.length })),
    h(
      'ol',
      { class: 'steps', 'aria-label': t('counter.steps_label') },
      visible.map((s, i) =>
        h(
          'li',
          { class: i < ww.index ? 'done' : i === ww.index ? 'current' : '', 'aria-current': i === ww.index ? 'step' : false, 'data-step': s },
          t(`counter.step.${s}`),
        ),
      ),
    ),
  );
}

interface View {
  title: string;
  body: (HTMLElement | null)[];
  nav: (HTMLElement | null)[];
}

function stepView(s: StepId): View {
  switch (s) {
    case 'card':
      return cardStep();
    case 'identity':
      return identityStep();
    case 'details':
      return detailsStep();
    case 'pins':
      return pinsStep();
    case 'action':
      return actionStep();
    case 'result':
      return resultStep();
  }
}

function button(action: string, label: string, onclick: () => void, cls = ''): HTMLButtonElement {
  return h('button', { type: 'button', class: cls, 'data-action': action, onclick }, label);
}

/** nav is Back (the previous step; on the first, Cancel), Cancel and Next. */
function nav(next: HTMLButtonElement | null): (HTMLElement | null)[] {
  return [
    button('back', t('counter.nav.back'), () => back()),
    button('cancel', t('counter.nav.cancel'), () => void end(), 'secondary'),
    next,
  ];
}

function back(): void {
  if (!w) return;
  w.info = undefined;
  if (step() === 'pins' && w.padIndex > 0) {
    w.padIndex--;
    w.padProblem = false;
    w.problems = [];
    paint('heading');
    return;
  }
  if (w.index === 0) {
    void end();
    return;
  }
  enter(w.index - 1);
}

function nextButton(label: string, onclick: () => void): HTMLButtonElement {
  return button('next', label, onclick, 'primary');
}

/** next goes on when the step's checks pass, else says why. */
function next(problems: Msg[]): void {
  if (!w) return;
  w.problems = problems;
  if (problems.length > 0) {
    paint('#step-problems');
    return;
  }
  enter(w.index + 1);
}

// ---- the card

function demoButtons(after: () => void): HTMLElement | null {
  if (!host.demo()) return null;
  return h(
    'fieldset',
    { class: 'demo-cards' },
    h('legend', {}, t('counter.demo.title')),
    demoCards.map((k) =>
      h(
        'button',
        {
          type: 'button',
          'data-demo': k,
          onclick: () =>
            void busy(async () => {
              const c = await api.DemoInsert(k);
              if (!w) return;
              setCard(c);
              after();
            }, '#card-summary'),
        },
        t(`counter.demo.${k}`),
      ),
    ),
  );
}

function setCard(c: CardView): void {
  if (!w) return;
  w.card = c;
  w.face = undefined;
  w.faceMatched = false;
  w.problems = [];
  w.newSign = !(c.holder.name !== '' && c.holder.age < 15);
  clearPads();
}

function readButton(): HTMLButtonElement {
  return button(
    'read-card',
    t('counter.card.read'),
    () =>
      void busy(async () => {
        const c = await api.CounterCard();
        setCard(c);
      }, '#card-summary'),
  );
}

function cardStep(): View {
  const ww = w!;
  const extras: (HTMLElement | null)[] = [];
  if (ww.procedure === 'issuance' || ww.procedure === 'card_renewal') {
    const required = ww.procedure === 'card_renewal';
    extras.push(
      textField('old-serial', required ? t('counter.card.old_serial') : t('counter.card.old_serial_optional'), ww.oldSerial, (v) => (ww.oldSerial = v), {
        hint: t('counter.card.old_serial_hint'),
        inputmode: 'latin',
      }),
    );
  }
  if (ww.procedure === 'cert_renewal') {
    extras.push(checkbox('reissue', t('counter.card.reissue'), ww.reissue, (v) => (ww.reissue = v)));
  }
  return {
    title: t('counter.card.title'),
    body: [
      h('p', {}, t('counter.card.intro')),
      h('div', { class: 'card-actions' }, readButton()),
      demoButtons(() => undefined),
      ww.card ? cardSummary(ww.card) : null,
      ...extras,
    ],
    nav: nav(
      nextButton(t('counter.nav.next'), () => {
        const p: Msg[] = [];
        if (!ww.card) p.push({ key: 'counter.problem.no_card' });
        if (ww.procedure === 'card_renewal' && ww.oldSerial.trim() === '') p.push({ key: 'counter.problem.old_serial' });
        next(p);
      }),
    ),
  };
}

function cardSummary(c: CardView): HTMLElement {
  const hd = c.holder;
  const rows: [string, string, string][] = [
    ['generation', t('counter.card.generation'), t(`counter.generation.${c.generation}`)],
    ['number', t('counter.card.number'), t('counter.card.number_end', { Last4: c.serialLast4 })],
    ['state', t('counter.card.state'), c.state ? t(`counter.state.${c.state}`) : t('counter.state.unknown')],
  ];
  if (hd.name) {
    rows.push(['name', t('counter.holder.name'), hd.name]);
    rows.push(['address', t('counter.holder.address'), hd.address]);
    rows.push(['birth', t('counter.holder.birth'), `${formatDate(hd.birthDate)} ${t('counter.card.age', { Age: hd.age })}`]);
    rows.push(['sex', t('counter.holder.sex'), t(sexKey(hd.sex))]);
  }
  return h(
    'div',
    { class: 'card-summary', id: 'card-summary', tabindex: '-1', 'data-card': c.serialLast4 },
    h('h3', {}, t('counter.card.summary')),
    h(
      'dl',
      {},
      rows.flatMap(([id, label, value]) => [h('dt', {}, label), h('dd', { 'data-field': id }, value)]),
    ),
    hd.name ? null : h('p', { class: 'note' }, t('counter.card.no_record')),
    expiryPanel(c.expiry, 'card-expiry'),
    pinTries(c.pins ?? []),
  );
}

/** dateNode is formatDate with the Western date kept on one line. */
function dateNode(iso: string): (HTMLElement | string)[] {
  const text = formatDate(iso);
  const western = isoDate(iso);
  const i = western ? text.lastIndexOf(western) : -1;
  if (i < 0) return [text];
  return [text.slice(0, i), h('span', { class: 'nowrap' }, western), text.slice(i + western.length)];
}

/** expiryPanel shows the card's and the certificates' expiry side by side. */
export function expiryPanel(e: Expiry, id: string): HTMLElement {
  const item = (which: string, label: string, iso: string | undefined, due: boolean) =>
    h(
      'div',
      { class: `expiry-item${due ? ' due' : ''}`, 'data-expiry': which, 'data-iso': isoDate(iso), 'data-due': due ? 'true' : 'false' },
      h('span', { class: 'expiry-label' }, label),
      h('span', { class: 'expiry-date' }, iso ? dateNode(iso) : t('counter.expiry.none')),
      due ? h('span', { class: 'badge warn' }, t('receipt.validity.near')) : null,
    );
  return h(
    'div',
    { class: 'expiry', id, role: 'group', 'aria-labelledby': `${id}-title` },
    h('h3', { id: `${id}-title` }, t('receipt.validity.heading')),
    h(
      'div',
      { class: 'expiry-grid' },
      item('card', t('receipt.validity.card'), e.card, e.cardDue),
      item('auth', t('receipt.validity.auth'), e.auth, e.authDue),
      item('sign', t('receipt.validity.signature'), e.sign, e.signDue),
    ),
  );
}

function pinTries(pins: PINView[]): HTMLElement | null {
  if (pins.length === 0) return null;
  return h(
    'div',
    { class: 'pin-tries' },
    h('h3', {}, t('counter.card.pins')),
    h(
      'ul',
      {},
      pins.map((p) =>
        h(
          'li',
          { 'data-pin': p.kind, class: p.tries === 0 ? 'state-error' : p.tries === 1 ? 'state-demo' : '' },
          `${t(p.label)}: `,
          p.tries < 0
            ? t('counter.tries.unknown')
            : p.tries === 0
              ? t('counter.tries.blocked')
              : t('counter.tries.left', { Count: p.tries, Max: p.maxTries }),
        ),
      ),
    ),
  );
}

// ---- small form parts

function textField(
  id: string,
  label: string,
  value: string,
  set: (v: string) => void,
  o: { hint?: string; inputmode?: string; maxlength?: number; digits?: boolean } = {},
): HTMLElement {
  const input = h('input', {
    id,
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    inputmode: o.digits ? 'numeric' : o.inputmode ?? false,
    maxlength: o.maxlength ? String(o.maxlength) : false,
    'aria-describedby': o.hint ? `${id}-hint` : false,
    oninput: () => {
      if (o.digits) {
        const v = input.value.replace(/\D/g, '');
        if (v !== input.value) input.value = v;
      }
      set(input.value);
    },
  });
  input.value = value;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, o.hint ? h('p', { class: 'hint', id: `${id}-hint` }, o.hint) : null);
}

function checkbox(id: string, label: string, checked: boolean, set: (v: boolean) => void, attrs: Record<string, string> = {}): HTMLElement {
  const box = h('input', { type: 'checkbox', id, ...attrs, onchange: () => set(box.checked) });
  box.checked = checked;
  return h('div', { class: 'check' }, box, h('label', { for: id }, label));
}

function radios<T extends string>(name: string, legend: string, options: [T, string][], value: T, set: (v: T) => void): HTMLElement {
  return h(
    'fieldset',
    { class: 'radios' },
    h('legend', {}, legend),
    options.map(([v, label]) => {
      const id = `${name}-${v}`;
      const r = h('input', { type: 'radio', name, id, value: v, onchange: () => r.checked && set(v) });
      r.checked = v === value;
      return h('div', { class: 'check' }, r, h('label', { for: id }, label));
    }),
  );
}

// ---- identity

function docCounts(): { photo: number; other: number } {
  const ww = w!;
  const letterCounts = ww.procedure === 'issuance' || ww.procedure === 'card_renewal';
  let photo = 0;
  let other = 0;
  for (const d of ww.docs) {
    if (!ww.ticked.has(d.id)) continue;
    if (d.photo) photo++;
    else if (d.id !== 'notification-letter' || letterCounts) other++;
  }
  return { photo, other };
}

function identityStep(): View {
  const ww = w!;
  const group = (photo: boolean, legend: string) =>
    h(
      'fieldset',
      { class: 'docs', 'data-docs': photo ? 'photo' : 'other' },
      h('legend', {}, legend),
      ww.docs
        .filter((d) => d.photo === photo)
        .map((d) =>
          checkbox(`doc-${d.id}`, t(d.label), ww.ticked.has(d.id), (v) => {
            if (v) ww.ticked.add(d.id);
            else ww.ticked.delete(d.id);
          }, { 'data-doc': d.id }),
        ),
    );
  const len = ww.card?.faceCheckLength ?? 14;
  const nextGen = ww.card?.generation === 'next';
  return {
    title: t('counter.identity.title'),
    body: [
      h('p', {}, t('counter.identity.intro')),
      h('div', { class: 'doc-groups' }, group(true, t('identity.kind.photo')), group(false, t('identity.kind.other'))),
      h(
        'fieldset',
        { class: 'who' },
        h('legend', {}, t('counter.identity.who')),
        checkbox('proxy', t('counter.identity.proxy'), ww.proxy, (v) => (ww.proxy = v)),
        checkbox('legal-rep', t('counter.identity.legal_rep'), ww.legalRep, (v) => (ww.legalRep = v)),
      ),
      h(
        'div',
        { class: 'face', role: 'group', 'aria-labelledby': 'face-title' },
        h('h3', { id: 'face-title' }, t('counter.face.title')),
        h('p', {}, t('counter.face.intro', { N: len })),
        h(
          'div',
          { class: 'face-check' },
          textField('face-check', nextGen ? t('counter.face.check_next', { N: len }) : t('counter.face.check_current', { N: len }), ww.faceCheck, (v) => (ww.faceCheck = v), {
            digits: true,
            maxlength: len,
            hint: t('counter.face.check_hint'),
          }),
          button('show-photo', t('counter.face.show'), () => {
            if (ww.faceCheck.length !== len) {
              ww.error = { key: 'counter.problem.face_check_length', data: { N: len } };
              paint('#step-error');
              return;
            }
            const check = ww.faceCheck;
            void busy(async () => {
              const f = await api.CounterFace(check);
              if (!w) return;
              w.face = f;
              w.faceCheck = '';
            }, '#face-matched');
          }),
        ),
        h(
          'div',
          { class: 'face-row' },
          ww.face
            ? h(
                'figure',
                { class: 'face-photo' },
                h('img', { id: 'face-photo', src: ww.face.photo, alt: t('counter.face.alt'), width: String(Math.max(ww.face.width, 1)), height: String(Math.max(ww.face.height, 1)) }),
                h('figcaption', {}, t('counter.face.caption')),
              )
            : h('div', { class: 'face-placeholder' }, t('counter.face.none')),
          h('div', { class: 'face-verdict' }, checkbox('face-matched', t('counter.face.matches'), ww.faceMatched, (v) => (ww.faceMatched = v))),
        ),
      ),
    ],
    nav: nav(
      nextButton(t('counter.nav.next'), () => {
        const p: Msg[] = [];
        const c = docCounts();
        if (c.photo < 1 && c.other < 2) p.push({ key: 'identity.error.documents', data: { Photo: c.photo, Other: c.other } });
        if (!ww.faceMatched) p.push({ key: 'identity.error.face_not_matched' });
        // The photo and its number are not needed any more.
        if (p.length === 0) {
          ww.faceCheck = '';
        }
        next(p);
      }),
    ),
  };
}

// ---- change of details

function detailsStep(): View {
  const ww = w!;
  const hd = ww.card?.holder;
  const minor = hd !== undefined && hd.name !== '' && hd.age < 15;
  return {
    title: t('counter.details.title'),
    body: [
      hd && hd.name
        ? h(
            'dl',
            { class: 'current-details' },
            h('dt', {}, t('counter.details.current_name')),
            h('dd', {}, hd.name),
            h('dt', {}, t('counter.details.current_address')),
            h('dd', {}, hd.address),
          )
        : null,
      h('p', { class: 'hint' }, t('counter.details.hint')),
      textField('new-name', t('counter.details.name'), ww.name, (v) => (ww.name = v)),
      textField('new-address', t('counter.details.address'), ww.address, (v) => (ww.address = v)),
      minor
        ? h('p', { class: 'note' }, t('flow.notice.no_sign_cert'))
        : checkbox('new-sign', t('counter.details.new_sign'), ww.newSign, (v) => {
            ww.newSign = v;
            clearPads();
          }),
    ],
    nav: nav(
      nextButton(t('counter.nav.next'), () => {
        const name = ww.name.trim();
        const address = ww.address.trim();
        const changed = (name !== '' && name !== hd?.name) || (address !== '' && address !== hd?.address);
        next(changed ? [] : [{ key: 'flow.error.nothing_changed' }]);
      }),
    ),
  };
}

// ---- PINs

const defaults: Record<PINKind, { min: number; max: number; digits: boolean }> = {
  auth: { min: 4, max: 4, digits: true },
  sign: { min: 6, max: 16, digits: false },
  'input-assist': { min: 4, max: 4, digits: true },
  resident: { min: 4, max: 4, digits: true },
  puk: { min: 8, max: 8, digits: true },
};

function pinView(kind: PINKind): PINView | undefined {
  return w?.card?.pins?.find((p) => p.kind === kind);
}

function newSpec(kind: PINKind, o: Partial<PadSpec> = {}): PadSpec {
  const v = pinView(kind) ?? defaults[kind];
  return { id: `pad-${kind}`, kind, min: v.min, max: v.max, digits: v.digits, mode: 'new', ...o };
}

function existingSpec(kind: PINKind): PadSpec {
  const v = pinView(kind);
  const d = v ?? defaults[kind];
  return { id: `pad-${kind}`, kind, min: d.min, max: d.max, digits: d.digits, mode: 'existing', tries: v?.tries ?? -1, notice: v?.notice };
}

/** sharedKinds are the three 4-digit PINs of the current card. */
const sharedKinds: PINKind[] = ['auth', 'input-assist', 'resident'];

function canShare(): boolean {
  return !!w && (w.procedure === 'issuance' || w.procedure === 'card_renewal') && w.card?.generation !== 'next';
}

function signNeeded(): boolean {
  const hd = w?.card?.holder;
  return !(hd && hd.name !== '' && hd.age < 15);
}

function textPIN(): PINKind {
  return w?.card?.generation === 'next' ? 'auth' : 'input-assist';
}

function plan(): PadSpec[] {
  const ww = w!;
  const nextGen = ww.card?.generation === 'next';
  switch (ww.procedure) {
    case 'issuance':
    case 'card_renewal':
      if (nextGen) return [newSpec('auth'), newSpec('sign'), newSpec('puk', { optional: true })];
      if (ww.shared) return [newSpec('auth', { id: 'pad-shared', name: t('counter.pad.shared_name') }), newSpec('sign')];
      return [newSpec('auth'), newSpec('input-assist'), newSpec('resident'), newSpec('sign')];
    case 'cert_renewal':
      return signNeeded() ? [existingSpec('auth'), existingSpec('sign')] : [existingSpec('auth')];
    case 'change_of_details': {
      const tp = textPIN();
      const pads = [existingSpec(tp)];
      if (ww.newSign && signNeeded() && tp !== 'sign') pads.push(existingSpec('sign'));
      return pads;
    }
    case 'pin_reset':
      return [newSpec(ww.target)];
    case 'puk_unlock':
      return [existingSpec('puk'), newSpec('auth')];
  }
  return [];
}

function makePads(): void {
  const ww = w!;
  for (const p of ww.pads) p.clear();
  if (ww.procedure === 'pin_reset' && !resetTargets().includes(ww.target)) ww.target = resetTargets()[0] ?? 'auth';
  ww.pads = plan().map((s) => new PinPad(s, () => updatePadProblem()));
  ww.padIndex = 0;
}

function currentPad(): PinPad | undefined {
  return w?.pads[w.padIndex];
}

function resetTargets(): PINKind[] {
  const pins = w?.card?.pins ?? [];
  const kinds = pins.map((p) => p.kind).filter((k) => k !== 'puk');
  return kinds.length > 0 ? kinds : ['auth', 'sign', 'input-assist', 'resident'];
}

function pinsStep(): View {
  const ww = w!;
  const pad = currentPad();
  if (!pad) return { title: t('counter.step.pins'), body: [], nav: nav(null) };
  const s = pad.spec;
  const title = s.mode === 'new' ? t('counter.pad.title_new', { PIN: pad.name() }) : t('counter.pad.title_existing', { PIN: pad.name() });
  const extras: (HTMLElement | null)[] = [];
  if (ww.padIndex === 0 && canShare()) {
    extras.push(
      checkbox('shared', t('counter.pad.shared', { A: pinName('auth'), B: pinName('input-assist'), C: pinName('resident') }), ww.shared, (v) => {
        ww.shared = v;
        makePads();
        paint('#shared');
      }),
    );
  }
  if (ww.procedure === 'pin_reset') {
    extras.push(
      radios<PINKind>(
        'target',
        t('counter.pad.which'),
        resetTargets().map((k) => [k, pinName(k)]),
        ww.target,
        (v) => {
          ww.target = v;
          makePads();
          paint(`#target-${v}`);
        },
      ),
    );
  }
  const last = ww.padIndex === ww.pads.length - 1;
  return {
    title,
    body: [
      ww.pads.length > 1 ? h('p', { class: 'pad-progress' }, t('counter.pad.progress', { N: ww.padIndex + 1, M: ww.pads.length })) : null,
      ...extras,
      h('p', { class: 'pad-intro' }, s.mode === 'new' ? t('counter.pad.intro_new') : t('counter.pad.intro_existing')),
      pad.el(),
    ],
    nav: nav(
      nextButton(last ? t(`counter.run.${ww.run}`) : t('counter.nav.next'), async () => {
        // A click right after the last key waits for that key's check.
        await pad.settled();
        if (w !== ww || ww.busy || currentPad() !== pad) return;
        if (!pad.ready()) {
          ww.padProblem = true;
          ww.problems = [];
          paint('#step-problems');
          return;
        }
        ww.padProblem = false;
        if (!last) {
          ww.padIndex++;
          ww.problems = [];
          paint('heading');
          return;
        }
        void run();
      }),
    ),
  };
}

// ---- suspension and return

function actionStep(): View {
  const ww = w!;
  const parts: (HTMLElement | null)[] = [];
  if (ww.procedure === 'suspension') {
    parts.push(
      radios<ProcedureID>(
        'act',
        t('counter.action.which'),
        [
          ['suspension', t('counter.action.suspend')],
          ['suspension_lift', t('counter.action.lift')],
        ],
        ww.run,
        (v) => {
          ww.run = v;
          paint(`#act-${v}`);
        },
      ),
    );
  }
  parts.push(
    radios<'serial' | 'reader'>(
      'src',
      t('counter.action.card'),
      [
        ['serial', t('counter.action.by_serial')],
        ['reader', t('counter.action.in_reader')],
      ],
      ww.source,
      (v) => {
        ww.source = v;
        paint(`#src-${v}`);
      },
    ),
  );
  if (ww.source === 'serial') {
    parts.push(textField('serial', t('counter.action.serial'), ww.serial, (v) => (ww.serial = v), { hint: t('counter.action.serial_hint') }));
  } else {
    parts.push(h('div', { class: 'card-actions' }, readButton()), demoButtons(() => undefined), ww.card ? cardSummary(ww.card) : null);
  }
  if (ww.run === 'suspension') {
    parts.push(
      radios<'lost' | 'stolen'>(
        'reason',
        t('counter.action.reason'),
        [
          ['lost', t('counter.reason.lost')],
          ['stolen', t('counter.reason.stolen')],
        ],
        ww.reason,
        (v) => (ww.reason = v),
      ),
    );
  }
  return {
    title: ww.procedure === 'suspension' ? t('counter.action.title_suspension') : t('counter.action.title_return'),
    body: parts,
    nav: nav(
      nextButton(t(`counter.run.${ww.run}`), () => {
        const p: Msg[] = [];
        if (ww.source === 'serial' && ww.serial.trim() === '') p.push({ key: 'counter.problem.serial' });
        if (ww.source === 'reader' && !ww.card) p.push({ key: 'counter.problem.no_card' });
        ww.problems = p;
        if (p.length > 0) {
          paint('#step-problems');
          return;
        }
        void run();
      }),
    ),
  };
}

// ---- running the procedure

function request(): ProcedureRequest {
  const ww = w!;
  const pins: PINEntry[] = [];
  let entries = 0;
  for (const pad of ww.pads) {
    const v = pad.take();
    if (v === '') continue;
    entries++;
    if (pad.spec.id === 'pad-shared') for (const k of sharedKinds) pins.push({ kind: k, value: v });
    else pins.push({ kind: pad.spec.kind, value: v });
  }
  const r: ProcedureRequest = {
    procedure: ww.run,
    identity: { documents: [...ww.ticked], proxy: ww.proxy, legalRepresentative: ww.legalRep, faceMatched: ww.faceMatched },
    pins,
    entries,
    lang: lang(),
  };
  switch (ww.procedure) {
    case 'issuance':
    case 'card_renewal':
      if (ww.oldSerial.trim()) r.oldSerial = ww.oldSerial.trim();
      break;
    case 'cert_renewal':
      r.reissue = ww.reissue;
      break;
    case 'change_of_details':
      r.name = ww.name.trim();
      r.address = ww.address.trim();
      break;
    case 'pin_reset':
      r.target = ww.target;
      break;
    case 'suspension':
    case 'return':
      if (ww.source === 'serial') r.serial = ww.serial.trim();
      if (ww.run === 'suspension') r.reason = ww.reason;
      break;
  }
  return r;
}

async function run(req?: ProcedureRequest): Promise<void> {
  const ww = w;
  if (!ww || ww.busy) return;
  const r = req ?? request();
  // The PINs leave the pads now: nothing of them stays on screen.
  for (const p of ww.pads) p.clear();
  ww.lastRequest = { ...r, pins: [] };
  ww.info = undefined;
  let outcome: ProcedureOutcome | undefined;
  await busy(async () => {
    try {
      outcome = await api.RunProcedure(r);
    } finally {
      r.pins = [];
    }
  });
  if (w !== ww) return;
  if (outcome) {
    ww.outcome = outcome;
    clearPads();
    enter(ww.steps.indexOf('result'));
  } else if (step() === 'pins') {
    // An error before the procedure ran (no card, …): the PINs are typed again.
    makePads();
    paint('#step-error');
  }
}

// ---- the result

function resultStep(): View {
  const ww = w!;
  const o = ww.outcome;
  if (!o) return { title: '', body: [], nav: [] };
  const finish = button('finish', t('counter.nav.finish'), () => void end(), 'primary');
  if (o.ok) {
    const e = o.expiry;
    const hasExpiry = !!(e.card || e.auth || e.sign);
    return {
      title: t('counter.result.ok_title'),
      body: [
        h('p', { class: 'result-ok', 'data-result': 'ok' }, t(`counter.result.done.${ww.run}`)),
        o.receipt
          ? h('p', { class: 'receipt-line' }, t('counter.result.receipt'), ' ', h('strong', { id: 'receipt-number', 'data-result': 'receipt' }, o.receipt))
          : null,
        o.printed ? h('p', { 'data-result': 'printed' }, t(o.printed)) : null,
        hasExpiry ? expiryPanel(e, 'result-expiry') : null,
        (o.notices ?? []).length > 0 ? h('ul', { class: 'notices', 'data-result': 'notices' }, (o.notices ?? []).map((n) => h('li', {}, t(n)))) : null,
        o.queued ? h('p', { class: 'note', 'data-result': 'queued' }, t('receipt.queued')) : null,
        h('p', { class: 'figures' }, t('counter.result.figures', { Ms: o.ms, APDUs: o.apdus })),
      ],
      nav: [finish],
    };
  }
  const f = o.failure;
  const body: (HTMLElement | null)[] = [];
  if (f?.step) body.push(h('p', { class: 'failure-step', 'data-result': 'step' }, t('counter.result.step'), ' ', h('strong', {}, t(`flow.step.${f.step}`))));
  body.push(
    h('p', { class: 'error', role: 'alert', 'data-result': 'failure' }, f ? message(f.code, f.count, withPINName(f.data)) : t('flow.error.failed')),
  );
  const navs: (HTMLElement | null)[] = [];
  if (f?.resume) navs.push(button('resume', t('counter.nav.resume'), () => resume(), 'primary'));
  navs.push(
    button('edit', t('counter.nav.edit'), () => {
      void busy(async () => {
        if (ww.steps.includes('pins')) await refreshCard();
        if (w !== ww) return;
        ww.outcome = undefined;
        clearPads();
        ww.busy = false;
        enter(0);
      });
    }),
    h('button', { type: 'button', class: f?.resume ? 'secondary' : 'primary', 'data-action': 'finish', onclick: () => void end() }, t('counter.nav.finish')),
  );
  return { title: t('counter.result.failed_title'), body, nav: navs };
}

/**
 * refreshCard reads the card again after a failure, so that the PIN pads
 * say the tries left now; the identity step's result is kept.
 */
async function refreshCard(): Promise<void> {
  try {
    const c = await api.CounterCard();
    if (w) w.card = c;
  } catch {
    /* the card may be away: the procedure says so when it runs */
  }
}

/** resume runs the same procedure again; PINs are asked again first. */
function resume(): void {
  const ww = w;
  if (!ww) return;
  const pinsAt = ww.steps.indexOf('pins');
  if (pinsAt >= 0) {
    void busy(async () => {
      await refreshCard();
      if (w !== ww) return;
      ww.outcome = undefined;
      ww.info = { key: 'counter.resume.pins' };
      clearPads();
      ww.busy = false;
      enter(pinsAt);
    });
    return;
  }
  if (ww.lastRequest) void run({ ...ww.lastRequest, pins: [] });
}
