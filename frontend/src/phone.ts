// The counter's smartphone credential screens (procedure "phone"):
//
//   - a wizard that stores the credential on the citizen's phone: the card
//     on the reader, the identity check, the signature password on the PIN
//     pad (PhonePrepare proves the holder; the card can be taken), then the
//     phone held to the reader with its options (the mdoc; the revocation
//     of an older phone, confirmed by the clerk) and PhoneStore;
//   - a list of a card's phone credentials (PhoneList) with, per active
//     credential, Revoke (PhoneRevoke, after a confirmation) and an
//     OpenID4VCI credential offer (PhoneOffer: a QR code and the
//     transaction code the citizen types on the phone).
//
// As the counter's wizards, one screen at a time in one element that stays
// in the page while main.ts re-renders around it. Texts go through tRich:
// easy Japanese shows its furigana.
import {
  api,
  ApiError,
  type CardView,
  type DemoCardKind,
  type DocumentView,
  type Expiry,
  type FaceView,
  type OfferView,
  type PhoneCardView,
  type PhoneCredView,
  type PhoneOutcome,
  type ProcedureOutcome,
  type ProcedureView,
} from './api';
import { h, openModal } from './dom';
import { dateMarkup, isoDate, messageMarkup, pinMarkup, sexKey } from './format';
import { has, lang, rich, tPlain, tRich, type RichData } from './i18n';
import { PinPad } from './pinpad';

type StepId = 'card' | 'identity' | 'password' | 'phone' | 'result';
const storeSteps: StepId[] = ['card', 'identity', 'password', 'phone', 'result'];
const stepLabels: Record<StepId, () => DocumentFragment> = {
  card: () => tRich('counter.step.card'),
  identity: () => tRich('counter.step.identity'),
  password: () => tRich('phonescreen.step.password'),
  phone: () => tRich('phonescreen.step.phone'),
  result: () => tRich('counter.step.result'),
};

const demoCards: DemoCardKind[] = ['blank', 'issued', 'due', 'blank-next', 'issued-next'];
const demoPhones: { kind: DemoCardKind; label: () => DocumentFragment }[] = [
  { kind: 'phone', label: () => tRich('phonescreen.demo.phone') },
  { kind: 'phone-unapproved', label: () => tRich('phonescreen.demo.phone_unapproved') },
];

interface Msg {
  key: string;
  count?: number;
  data?: RichData;
}

interface Base {
  label: string; // the procedure's message key
  busy: boolean;
  error?: Msg;
  problems: Msg[];
  info?: Msg;
  paintedLang: string;
}

interface Store extends Base {
  kind: 'store';
  index: number;
  card?: CardView;
  docs: DocumentView[];
  ticked: Set<string>;
  faceCheck: string; // the field
  faceKept: string; // the number that opened the photo, for the mdoc's portrait
  face?: FaceView;
  faceMatched: boolean;
  pad?: PinPad;
  padProblem: boolean; // show the pad's problem
  prepared?: PhoneCardView;
  phones?: PhoneCredView[]; // the holder's credentials before storing
  phonesUnknown: boolean;
  phoneHeld?: DemoCardKind;
  mdoc: boolean;
  replace: boolean;
  outcome?: PhoneOutcome;
}

interface List extends Base {
  kind: 'list';
  source: 'reader' | 'serial';
  serial: string;
  card?: CardView;
  phones?: PhoneCredView[];
  offer?: { id: string; view: OfferView };
}

type Wizard = Store | List;

interface Host {
  render(): void;
  demo(): boolean;
}

let host: Host = { render: () => undefined, demo: () => false };
let w: Wizard | undefined;
const el = h('section', { class: 'counter phone', 'aria-labelledby': 'step-title' });

export function initPhone(hst: Host): void {
  host = hst;
}

/** phoneActive reports whether a phone screen is open. */
export function phoneActive(): boolean {
  return w !== undefined;
}

/** phoneView is the open screen's element, repainted when the language changed. */
export function phoneView(): HTMLElement {
  if (w && w.paintedLang !== lang()) paint('keep');
  return el;
}

/** isPhoneProcedure reports whether a procedure of the counter's list opens these screens. */
export function isPhoneProcedure(id: string): boolean {
  return id === 'phone';
}

/** phoneListEntry is the list's second entry: the credentials of a card, to revoke or offer. */
export function phoneListEntry(p: ProcedureView): HTMLElement {
  return h(
    'button',
    { type: 'button', class: 'secondary', 'data-action': 'phone-list', disabled: !p.available, onclick: () => startPhoneList(p.label) },
    tRich('phonescreen.list.open'),
  );
}

function base(label: string): Base {
  return { label, busy: false, problems: [], paintedLang: '' };
}

/** startPhone opens the wizard that stores a credential on a phone. */
export function startPhone(label: string): void {
  w = {
    ...base(label),
    kind: 'store',
    index: 0,
    docs: [],
    ticked: new Set(),
    faceCheck: '',
    faceKept: '',
    faceMatched: false,
    padProblem: false,
    phonesUnknown: false,
    mdoc: true,
    replace: false,
  };
  el.replaceChildren();
  enter(0);
  void api
    .IdentityDocuments()
    .then((d) => {
      if (!w || w.kind !== 'store') return;
      w.docs = d ?? [];
      if (step() === 'identity') paint('keep');
    })
    .catch(() => undefined);
}

/** startPhoneList opens the list of a card's phone credentials. */
export function startPhoneList(label: string): void {
  w = { ...base(label), kind: 'list', source: 'reader', serial: '' };
  el.replaceChildren();
  paint('heading');
}

function step(): StepId {
  return w && w.kind === 'store' ? storeSteps[w.index] : 'card';
}

function enter(i: number): void {
  if (!w || w.kind !== 'store') return;
  w.index = i;
  w.problems = [];
  w.padProblem = false;
  w.error = undefined;
  if (step() === 'password' && !w.pad) makePad();
  if (step() !== 'password') clearPad();
  paint('heading');
}

function makePad(): void {
  if (!w || w.kind !== 'store') return;
  w.pad?.clear();
  const v = w.card?.pins?.find((p) => p.kind === 'sign');
  w.pad = new PinPad(
    {
      id: 'pad-sign',
      kind: 'sign',
      min: v?.min ?? 6,
      max: v?.max ?? 16,
      digits: v?.digits ?? false,
      mode: 'existing',
      tries: v?.tries ?? -1,
      notice: v?.notice,
      rich: true,
    },
    () => updatePadProblem(),
  );
}

/** updatePadProblem refreshes the shown pad problem in place as the citizen types. */
function updatePadProblem(): void {
  if (!w || w.kind !== 'store' || !w.padProblem) return;
  const box = document.getElementById('step-problems');
  const p = w.pad?.problem() ?? '';
  if (p === '') {
    w.padProblem = false;
    box?.remove();
  } else if (box) box.replaceChildren(h('p', {}, p));
}

function clearPad(): void {
  if (!w || w.kind !== 'store') return;
  w.pad?.clear();
  w.pad = undefined;
}

/** end closes the screens (and the card session) and goes back to the list. */
async function end(): Promise<void> {
  clearPad();
  if (w && w.kind === 'store') {
    w.faceCheck = '';
    w.faceKept = '';
  }
  w = undefined;
  el.replaceChildren();
  closeDialog();
  try {
    await api.CounterEnd();
  } catch {
    /* the session ends with the next card anyway */
  }
  host.render();
  document.querySelector<HTMLElement>('#mode-title')?.focus();
}

function errMsg(e: unknown): Msg {
  return { key: e instanceof ApiError ? e.code : 'error.internal' };
}

async function busy(fn: () => Promise<void>, focus = 'keep'): Promise<void> {
  const ww = w;
  if (!ww || ww.busy) return;
  ww.busy = true;
  ww.error = undefined;
  paint('keep');
  try {
    await fn();
  } catch (e) {
    if (w === ww) ww.error = ww.error ?? errMsg(e);
  }
  if (w !== ww) return;
  ww.busy = false;
  paint(ww.error ? '#step-error' : focus);
}

// ---- text

/** dateRich is a date in both calendars, the era's name with its furigana. */
function dateRich(iso: string | undefined): DocumentFragment {
  return rich(dateMarkup(iso).text);
}

const pinKinds = new Set(['auth', 'sign', 'input-assist', 'resident', 'puk']);

/** richPINData names the PIN of a message's data (PINKind, or PIN as a kind) with its furigana. */
function richPINData(data: Record<string, string | number> | undefined): RichData {
  const out: RichData = { ...(data ?? {}) };
  const kind = typeof out.PINKind === 'string' ? out.PINKind : typeof out.PIN === 'string' ? out.PIN : '';
  if (pinKinds.has(kind)) out.PIN = pinMarkup(kind);
  return out;
}

/** msg renders a message from Go that may have plural forms, with furigana. */
function msg(m: Msg): DocumentFragment {
  return rich(messageMarkup(m.key, m.count ?? 0, m.data ?? {}).text);
}

function stateLabel(state: string): DocumentFragment | string {
  return has(`phonescreen.state.${state}`) ? tRich(`phonescreen.state.${state}`) : state;
}

// ---- painting

interface View {
  title: DocumentFragment | string;
  body: (HTMLElement | null)[];
  nav: (HTMLElement | null)[];
}

function paint(focus: 'heading' | 'keep' | string): void {
  const ww = w;
  if (!ww) return;
  const active = document.activeElement as HTMLElement | null;
  const prevId = active && el.contains(active) ? active.id : '';
  const caret = active instanceof HTMLInputElement && active.type !== 'checkbox' && active.type !== 'radio' ? active.selectionStart : null;
  ww.paintedLang = lang();
  const view = ww.kind === 'store' ? storeView(ww) : listView(ww);
  el.dataset.procedure = 'phone';
  el.dataset.step = ww.kind === 'store' ? step() : 'list';
  el.setAttribute('aria-busy', ww.busy ? 'true' : 'false');
  const heading = h('h2', { id: 'step-title', tabindex: '-1' }, view.title);
  const parts: (HTMLElement | null)[] = [
    top(ww),
    heading,
    ww.info ? h('p', { class: 'info', role: 'status', id: 'step-info' }, msg(ww.info)) : null,
    ...view.body,
    ww.error ? h('p', { class: 'error', id: 'step-error', role: 'alert', tabindex: '-1' }, msg(ww.error)) : null,
    problemsBox(ww),
    ww.busy ? h('p', { class: 'busy', role: 'status' }, ww.kind === 'store' && step() === 'phone' ? tRich('phonescreen.phone.busy') : tRich('counter.busy')) : null,
    h('div', { class: 'wizard-nav' }, view.nav),
  ];
  el.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  if (ww.busy) for (const b of el.querySelectorAll<HTMLButtonElement | HTMLInputElement>('button, input')) b.disabled = true;
  if (!el.isConnected) host.render();
  if (focus === 'heading') heading.focus();
  else if (focus === 'keep') {
    const again = prevId ? document.getElementById(prevId) : null;
    again?.focus({ preventScroll: true });
    if (again instanceof HTMLInputElement && caret !== null && again.type !== 'number') again.setSelectionRange(caret, caret);
  } else (el.querySelector<HTMLElement>(focus) ?? heading).focus();
}

function problemsBox(ww: Wizard): HTMLElement | null {
  const texts: (DocumentFragment | string)[] = ww.problems.map((p) => msg(p));
  if (ww.kind === 'store' && step() === 'password' && ww.pad && ww.padProblem) {
    const p = ww.pad.problem();
    if (p) texts.push(p);
  }
  if (texts.length === 0) return null;
  return h(
    'div',
    { class: 'problems', id: 'step-problems', role: 'alert', tabindex: '-1' },
    texts.length === 1 ? h('p', {}, texts[0]) : h('ul', {}, texts.map((x) => h('li', {}, x))),
  );
}

function top(ww: Wizard): HTMLElement {
  if (ww.kind === 'list') return h('div', { class: 'counter-top' }, h('p', { class: 'counter-procedure' }, tRich(ww.label)));
  return h(
    'div',
    { class: 'counter-top' },
    h('p', { class: 'counter-procedure' }, tRich(ww.label)),
    h('p', { class: 'progress-count', id: 'progress' }, tRich('counter.progress', { N: ww.index + 1, M: storeSteps.length })),
    h(
      'ol',
      { class: 'steps', 'aria-label': tPlain('counter.steps_label') },
      storeSteps.map((s, i) =>
        h(
          'li',
          { class: i < ww.index ? 'done' : i === ww.index ? 'current' : '', 'aria-current': i === ww.index ? 'step' : false, 'data-step': s },
          stepLabels[s](),
        ),
      ),
    ),
  );
}

function button(action: string, label: DocumentFragment | string, onclick: () => void, cls = ''): HTMLButtonElement {
  return h('button', { type: 'button', class: cls, 'data-action': action, onclick }, label);
}

function checkbox(id: string, label: DocumentFragment | string, checked: boolean, set: (v: boolean) => void, attrs: Record<string, string> = {}): HTMLElement {
  const box = h('input', { type: 'checkbox', id, ...attrs, onchange: () => set(box.checked) });
  box.checked = checked;
  return h('div', { class: 'check' }, box, h('label', { for: id }, label));
}

function textField(
  id: string,
  label: DocumentFragment | string,
  value: string,
  set: (v: string) => void,
  o: { hint?: DocumentFragment | string; digits?: boolean; maxlength?: number; inputmode?: string } = {},
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

// ---- the card (both screens)

function readButton(set: (c: CardView) => void): HTMLButtonElement {
  return button('read-card', tRich('counter.card.read'), () =>
    void busy(async () => {
      set(await api.CounterCard());
    }, '#card-summary'),
  );
}

function demoButtons(set: (c: CardView) => void): HTMLElement | null {
  if (!host.demo()) return null;
  return h(
    'fieldset',
    { class: 'demo-cards' },
    h('legend', {}, tRich('counter.demo.title')),
    demoCards.map((k) =>
      h(
        'button',
        {
          type: 'button',
          'data-demo': k,
          onclick: () =>
            void busy(async () => {
              set(await api.DemoInsert(k));
            }, '#card-summary'),
        },
        tRich(`counter.demo.${k}`),
      ),
    ),
  );
}

function cardSummary(c: CardView): HTMLElement {
  const hd = c.holder;
  const rows: [string, DocumentFragment | string, Node | string][] = [
    ['generation', tRich('counter.card.generation'), tRich(`counter.generation.${c.generation}`)],
    ['number', tRich('counter.card.number'), tRich('counter.card.number_end', { Last4: c.serialLast4 })],
    ['state', tRich('counter.card.state'), c.state ? tRich(`counter.state.${c.state}`) : tRich('counter.state.unknown')],
  ];
  if (hd.name) {
    rows.push(['name', tRich('counter.holder.name'), hd.name]);
    rows.push(['birth', tRich('counter.holder.birth'), h('span', {}, dateRich(hd.birthDate), ' ', tRich('counter.card.age', { Age: hd.age }))]);
    rows.push(['sex', tRich('counter.holder.sex'), tRich(sexKey(hd.sex))]);
  }
  return h(
    'div',
    { class: 'card-summary', id: 'card-summary', tabindex: '-1', 'data-card': c.serialLast4 },
    h('h3', {}, tRich('counter.card.summary')),
    h(
      'dl',
      {},
      rows.flatMap(([id, label, value]) => [h('dt', {}, label), h('dd', { 'data-field': id }, value)]),
    ),
    hd.name ? null : h('p', { class: 'note' }, tRich('counter.card.no_record')),
    expiryPanel(c.expiry, 'card-expiry'),
  );
}

/** expiryPanel shows the card's and the certificates' expiry (as the counter's, with furigana). */
function expiryPanel(e: Expiry, id: string): HTMLElement {
  const item = (which: string, label: string, iso: string | undefined, due: boolean) =>
    h(
      'div',
      { class: `expiry-item${due ? ' due' : ''}`, 'data-expiry': which, 'data-iso': isoDate(iso), 'data-due': due ? 'true' : 'false' },
      h('span', { class: 'expiry-label' }, tRich(label)),
      h('span', { class: 'expiry-date' }, iso ? dateRich(iso) : tRich('counter.expiry.none')),
      due ? h('span', { class: 'badge warn' }, tRich('receipt.validity.near')) : null,
    );
  return h(
    'div',
    { class: 'expiry', id, role: 'group', 'aria-labelledby': `${id}-title` },
    h('h3', { id: `${id}-title` }, tRich('receipt.validity.heading')),
    h(
      'div',
      { class: 'expiry-grid' },
      item('card', 'receipt.validity.card', e.card, e.cardDue),
      item('auth', 'receipt.validity.auth', e.auth, e.authDue),
      item('sign', 'receipt.validity.signature', e.sign, e.signDue),
    ),
  );
}

// ---- storing: the wizard's steps

function storeView(ww: Store): View {
  switch (step()) {
    case 'card':
      return cardStep(ww);
    case 'identity':
      return identityStep(ww);
    case 'password':
      return passwordStep(ww);
    case 'phone':
      return phoneStep(ww);
    case 'result':
      return resultStep(ww);
  }
}

/** nav is Back (on the first step: Cancel), Cancel and the step's action. */
function nav(ww: Store, next: HTMLButtonElement | null): (HTMLElement | null)[] {
  return [
    button('back', tRich('counter.nav.back'), () => {
      ww.info = undefined;
      if (ww.index === 0) void end();
      else enter(ww.index - 1);
    }),
    button('cancel', tRich('counter.nav.cancel'), () => void end(), 'secondary'),
    next,
  ];
}

function next(ww: Store, problems: Msg[]): void {
  ww.problems = problems;
  if (problems.length > 0) {
    paint('#step-problems');
    return;
  }
  enter(ww.index + 1);
}

function setCard(ww: Store, c: CardView): void {
  ww.card = c;
  ww.face = undefined;
  ww.faceMatched = false;
  ww.faceKept = '';
  ww.problems = [];
  clearPad();
}

function cardStep(ww: Store): View {
  const set = (c: CardView) => {
    if (w === ww) setCard(ww, c);
  };
  return {
    title: tRich('counter.card.title'),
    body: [
      h('p', {}, tRich('phonescreen.card.intro')),
      h('div', { class: 'card-actions' }, readButton(set)),
      demoButtons(set),
      ww.card ? cardSummary(ww.card) : null,
    ],
    nav: nav(
      ww,
      button('next', tRich('counter.nav.next'), () => next(ww, ww.card ? [] : [{ key: 'counter.problem.no_card' }]), 'primary'),
    ),
  };
}

function identityStep(ww: Store): View {
  const group = (photo: boolean, legend: DocumentFragment) =>
    h(
      'fieldset',
      { class: 'docs', 'data-docs': photo ? 'photo' : 'other' },
      h('legend', {}, legend),
      ww.docs
        .filter((d) => d.photo === photo)
        .map((d) =>
          checkbox(`doc-${d.id}`, tRich(d.label), ww.ticked.has(d.id), (v) => {
            if (v) ww.ticked.add(d.id);
            else ww.ticked.delete(d.id);
          }, { 'data-doc': d.id }),
        ),
    );
  const len = ww.card?.faceCheckLength ?? 14;
  const nextGen = ww.card?.generation === 'next';
  return {
    title: tRich('counter.identity.title'),
    body: [
      h('p', {}, tRich('phonescreen.identity.intro')),
      h('div', { class: 'doc-groups' }, group(true, tRich('identity.kind.photo')), group(false, tRich('identity.kind.other'))),
      h(
        'div',
        { class: 'face', role: 'group', 'aria-labelledby': 'face-title' },
        h('h3', { id: 'face-title' }, tRich('counter.face.title')),
        h('p', {}, tRich('phonescreen.identity.face')),
        h(
          'div',
          { class: 'face-check' },
          textField(
            'face-check',
            nextGen ? tRich('counter.face.check_next', { N: len }) : tRich('counter.face.check_current', { N: len }),
            ww.faceCheck,
            (v) => (ww.faceCheck = v),
            { digits: true, maxlength: len, hint: tRich('counter.face.check_hint') },
          ),
          button('show-photo', tRich('counter.face.show'), () => {
            if (ww.faceCheck.length !== len) {
              ww.error = { key: 'counter.problem.face_check_length', data: { N: len } };
              paint('#step-error');
              return;
            }
            const check = ww.faceCheck;
            void busy(async () => {
              const f = await api.CounterFace(check);
              if (w !== ww) return;
              ww.face = f;
              // Out of the field; kept in memory only until the card's part
              // is done, for the mdoc's portrait.
              ww.faceKept = check;
              ww.faceCheck = '';
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
                h('img', {
                  id: 'face-photo',
                  src: ww.face.photo,
                  alt: tPlain('counter.face.alt'),
                  width: String(Math.max(ww.face.width, 1)),
                  height: String(Math.max(ww.face.height, 1)),
                }),
                h('figcaption', {}, tRich('counter.face.caption')),
              )
            : h('div', { class: 'face-placeholder' }, tRich('counter.face.none')),
          h('div', { class: 'face-verdict' }, checkbox('face-matched', tRich('counter.face.matches'), ww.faceMatched, (v) => (ww.faceMatched = v))),
        ),
      ),
    ],
    nav: nav(
      ww,
      button(
        'next',
        tRich('counter.nav.next'),
        () => {
          const p: Msg[] = [];
          let photo = 0;
          let other = 0;
          for (const d of ww.docs) {
            if (!ww.ticked.has(d.id)) continue;
            if (d.photo) photo++;
            else other++;
          }
          if (photo < 1 && other < 2) p.push({ key: 'identity.error.documents', data: { Photo: photo, Other: other } });
          if (!ww.faceMatched) p.push({ key: 'identity.error.face_not_matched' });
          next(ww, p);
        },
        'primary',
      ),
    ),
  };
}

function passwordStep(ww: Store): View {
  const pad = ww.pad;
  if (!pad) return { title: tRich('phonescreen.step.password'), body: [], nav: nav(ww, null) };
  return {
    title: tRich('phonescreen.password.title', { PIN: pinMarkup('sign') }),
    body: [h('p', { class: 'pad-intro' }, tRich('phonescreen.password.intro')), pad.el()],
    nav: nav(
      ww,
      button(
        'next',
        tRich('phonescreen.password.check'),
        async () => {
          await pad.settled();
          if (w !== ww || ww.busy || ww.pad !== pad) return;
          if (!pad.ready()) {
            ww.problems = [];
            ww.padProblem = true;
            paint('#step-problems');
            return;
          }
          ww.padProblem = false;
          void prepare(ww, pad);
        },
        'primary',
      ),
    ),
  };
}

/** prepare proves the holder with the card (PhonePrepare) and looks up their phones. */
async function prepare(ww: Store, pad: PinPad): Promise<void> {
  const signPIN = pad.take();
  const faceCheck = ww.faceKept || ww.faceCheck;
  pad.clear();
  let failed: Msg | undefined;
  await busy(async () => {
    try {
      ww.prepared = await api.PhonePrepare({
        identity: { documents: [...ww.ticked], proxy: false, legalRepresentative: false, faceMatched: ww.faceMatched },
        signPIN,
        faceCheck: faceCheck || undefined,
      });
    } catch (e) {
      failed = errMsg(e);
      // The card says the tries left now (the pad's notice, and the count
      // of the message when it has plural forms).
      try {
        const c = await api.CounterCard();
        if (w === ww) ww.card = c;
      } catch {
        /* the card may be away */
      }
      const sign = ww.card?.pins?.find((p) => p.kind === 'sign');
      ww.error = { ...failed, count: sign && sign.tries >= 0 ? sign.tries : 0, data: { PIN: pinMarkup('sign') } };
      return;
    }
    ww.faceCheck = '';
    ww.faceKept = '';
    await loadHolderPhones(ww);
  });
  if (w !== ww) return;
  if (failed) {
    makePad();
    paint('#step-error');
    return;
  }
  ww.info = undefined;
  enter(storeSteps.indexOf('phone'));
}

async function loadHolderPhones(ww: Store): Promise<void> {
  try {
    ww.phones = await api.PhoneList('');
    ww.phonesUnknown = false;
  } catch {
    ww.phones = undefined;
    ww.phonesUnknown = true;
  }
}

function activePhones(phones: PhoneCredView[] | undefined): PhoneCredView[] {
  return (phones ?? []).filter((p) => p.state === 'good' || p.state === 'suspended');
}

function phoneStep(ww: Store): View {
  const active = activePhones(ww.phones);
  const body: (HTMLElement | null)[] = [];
  if (ww.prepared) {
    body.push(h('p', { class: 'result-ok', id: 'holder-proven', 'data-result': 'proven' }, tRich('phonescreen.phone.proven', { Last4: ww.prepared.serialLast4 })));
  }
  body.push(
    h(
      'ol',
      { class: 'phone-howto' },
      h('li', {}, tRich('phonescreen.phone.take_card')),
      h('li', {}, tRich('phonescreen.phone.open_app')),
      h('li', {}, tRich('phonescreen.phone.hold')),
      h('li', {}, tRich('phonescreen.phone.approve')),
    ),
  );
  if (host.demo()) {
    body.push(
      h(
        'fieldset',
        { class: 'demo-cards demo-phones' },
        h('legend', {}, tRich('phonescreen.demo.title')),
        demoPhones.map((p) =>
          h(
            'button',
            {
              type: 'button',
              'data-demo-phone': p.kind,
              'aria-pressed': ww.phoneHeld === p.kind ? 'true' : 'false',
              onclick: () =>
                void busy(async () => {
                  await api.DemoInsert(p.kind);
                  if (w === ww) ww.phoneHeld = p.kind;
                }),
            },
            p.label(),
          ),
        ),
      ),
    );
  }
  const opts: (HTMLElement | null)[] = [
    h('legend', {}, tRich('phonescreen.options.title')),
    checkbox('mdoc', tRich('phonescreen.options.mdoc'), ww.mdoc, (v) => (ww.mdoc = v)),
  ];
  if (active.length > 0) {
    opts.push(
      h(
        'div',
        { class: 'replace-warning', id: 'replace-warning', role: 'note' },
        h('p', {}, tRich('phonescreen.options.active', { Date: dateMarkup(active[0].notAfter) })),
        checkbox('replace', tRich('phonescreen.options.replace'), ww.replace, (v) => (ww.replace = v)),
      ),
    );
  } else if (ww.phonesUnknown) {
    opts.push(h('p', { class: 'note' }, tRich('phonescreen.options.unknown')));
  }
  body.push(h('fieldset', { class: 'phone-options' }, opts));
  return {
    title: tRich('phonescreen.phone.title'),
    body,
    nav: [
      button('cancel', tRich('counter.nav.cancel'), () => void end(), 'secondary'),
      button(
        'store',
        tRich('phonescreen.phone.store'),
        () => {
          ww.problems = active.length > 0 && !ww.replace ? [{ key: 'phonescreen.problem.replace' }] : [];
          if (ww.problems.length > 0) {
            paint('#step-problems');
            return;
          }
          void store(ww);
        },
        'primary',
      ),
    ],
  };
}

/** store writes the credential to the phone on the reader (PhoneStore). */
async function store(ww: Store): Promise<void> {
  let outcome: PhoneOutcome | undefined;
  ww.info = undefined;
  await busy(async () => {
    outcome = await api.PhoneStore({ replace: ww.replace, mdoc: ww.mdoc, lang: lang() });
  });
  if (w !== ww || !outcome) return;
  ww.outcome = outcome;
  if (!outcome.ok && outcome.failure?.code === 'phone.error.exists') {
    // Another phone is active after all: ask the clerk to confirm.
    await loadHolderPhones(ww);
  }
  enter(storeSteps.indexOf('result'));
}

function resultStep(ww: Store): View {
  const o = ww.outcome;
  if (!o) return { title: '', body: [], nav: [] };
  const finish = (primary: boolean) => button('finish', tRich('counter.nav.finish'), () => void end(), primary ? 'primary' : 'secondary');
  if (o.ok) {
    const rows: [string, DocumentFragment | string, DocumentFragment | string][] = [];
    if (o.device) rows.push(['device', tRich('phonescreen.result.device'), o.device]);
    if (o.expiry.auth) rows.push(['cert-expiry', tRich('phonescreen.result.cert_expiry'), dateRich(o.expiry.auth)]);
    rows.push(['mdoc', tRich('phonescreen.result.mdoc'), o.mdoc ? tRich('phonescreen.result.stored') : tRich('phonescreen.result.not_stored')]);
    if (o.replaced) rows.push(['replaced', tRich('phonescreen.result.replaced'), o.replaced]);
    return {
      title: tRich('counter.result.ok_title'),
      body: [
        h('p', { class: 'result-ok', 'data-result': 'ok' }, tRich('phonescreen.result.done')),
        o.receipt
          ? h('p', { class: 'receipt-line' }, tRich('counter.result.receipt'), ' ', h('strong', { id: 'receipt-number', 'data-result': 'receipt' }, o.receipt))
          : null,
        o.printed ? h('p', { 'data-result': 'printed' }, tRich(o.printed)) : null,
        h('dl', { class: 'current-details phone-result', id: 'phone-result' }, rows.flatMap(([id, label, value]) => [h('dt', {}, label), h('dd', { 'data-field': id }, value)])),
        (o.notices ?? []).length > 0 ? h('ul', { class: 'notices', 'data-result': 'notices' }, (o.notices ?? []).map((n) => h('li', {}, tRich(n)))) : null,
        h('p', { class: 'figures' }, tRich('counter.result.figures', { Ms: o.ms, APDUs: o.apdus })),
      ],
      nav: [button('phone-list', tRich('phonescreen.list.open'), () => startPhoneList(ww.label), 'secondary'), finish(true)],
    };
  }
  const f = o.failure;
  const body: (HTMLElement | null)[] = [];
  if (f?.step) body.push(h('p', { class: 'failure-step', 'data-result': 'step' }, tRich('counter.result.step'), ' ', h('strong', {}, tRich(`flow.step.${f.step}`))));
  body.push(
    h(
      'p',
      { class: 'error', role: 'alert', 'data-result': 'failure', 'data-code': f?.code ?? '' },
      f ? msg({ key: f.code, count: f.count, data: richPINData(f.data) }) : tRich('flow.error.failed'),
    ),
  );
  const navs: (HTMLElement | null)[] = [];
  if (f?.code === 'phone.error.exists') {
    const active = activePhones(ww.phones);
    body.push(
      h(
        'div',
        { class: 'replace-warning', id: 'replace-warning', role: 'note' },
        active.length > 0 ? h('p', {}, tRich('phonescreen.options.active', { Date: dateMarkup(active[0].notAfter) })) : null,
        checkbox('replace', tRich('phonescreen.options.replace'), ww.replace, (v) => (ww.replace = v)),
      ),
    );
  }
  if (f?.resume || f?.code === 'phone.error.exists') {
    navs.push(
      button(
        'retry',
        tRich('phonescreen.result.retry'),
        () => {
          if (f.code === 'phone.error.exists' && !ww.replace) {
            ww.problems = [{ key: 'phonescreen.problem.replace' }];
            paint('#step-problems');
            return;
          }
          ww.problems = [];
          void store(ww);
        },
        'primary',
      ),
    );
  }
  if (f?.code !== 'phone.error.no_holder') {
    navs.push(
      button('phone-again', tRich('phonescreen.result.other_phone'), () => {
        ww.outcome = undefined;
        ww.phoneHeld = undefined;
        enter(storeSteps.indexOf('phone'));
      }),
    );
  }
  navs.push(finish(navs.length === 0));
  return { title: tRich('phonescreen.result.failed_title'), body, nav: navs };
}

// ---- the list of a card's phone credentials

function listView(ww: List): View {
  const set = (c: CardView) => {
    if (w !== ww) return;
    ww.card = c;
    ww.phones = undefined;
    ww.offer = undefined;
  };
  const source = h(
    'fieldset',
    { class: 'radios' },
    h('legend', {}, tRich('counter.action.card')),
    (
      [
        ['reader', tRich('counter.action.in_reader')],
        ['serial', tRich('counter.action.by_serial')],
      ] as ['reader' | 'serial', DocumentFragment][]
    ).map(([v, label]) => {
      const id = `src-${v}`;
      const r = h('input', {
        type: 'radio',
        name: 'src',
        id,
        value: v,
        onchange: () => {
          if (!r.checked) return;
          ww.source = v;
          paint(`#${id}`);
        },
      });
      r.checked = ww.source === v;
      return h('div', { class: 'check' }, r, h('label', { for: id }, label));
    }),
  );
  const body: (HTMLElement | null)[] = [h('p', {}, tRich('phonescreen.list.intro')), source];
  if (ww.source === 'serial') {
    body.push(textField('serial', tRich('counter.action.serial'), ww.serial, (v) => (ww.serial = v), { hint: tRich('counter.action.serial_hint'), inputmode: 'latin' }));
  } else {
    body.push(h('div', { class: 'card-actions' }, readButton(set)), demoButtons(set), ww.card ? cardSummary(ww.card) : null);
  }
  body.push(
    h(
      'div',
      { class: 'card-actions' },
      button(
        'list',
        tRich('phonescreen.list.show'),
        () => {
          ww.problems = [];
          if (ww.source === 'serial' && ww.serial.trim() === '') ww.problems.push({ key: 'counter.problem.serial' });
          if (ww.source === 'reader' && !ww.card) ww.problems.push({ key: 'counter.problem.no_card' });
          if (ww.problems.length > 0) {
            paint('#step-problems');
            return;
          }
          ww.info = undefined;
          void refreshList(ww, '#phone-list');
        },
        'primary',
      ),
    ),
  );
  if (ww.phones) body.push(phoneTable(ww, ww.phones));
  if (ww.offer) body.push(offerPanel(ww, ww.offer.view));
  return {
    title: tRich('phonescreen.list.title'),
    body,
    nav: [button('finish', tRich('counter.nav.finish'), () => void end(), 'primary')],
  };
}

async function refreshList(ww: List, focus: string): Promise<void> {
  await busy(async () => {
    const phones = await api.PhoneList(ww.source === 'serial' ? ww.serial.trim() : '');
    if (w === ww) ww.phones = phones;
  }, focus);
}

function phoneTable(ww: List, phones: PhoneCredView[]): HTMLElement {
  if (phones.length === 0) return h('p', { class: 'note', id: 'phone-list', tabindex: '-1', 'data-phones': '0' }, tRich('phonescreen.list.none'));
  const th = (key: string) => h('th', { scope: 'col' }, tRich(key));
  return h(
    'div',
    { class: 'table-wrap', id: 'phone-list', tabindex: '-1', 'data-phones': String(phones.length) },
    h(
      'table',
      { class: 'data phones' },
      h('caption', {}, tRich('phonescreen.list.caption')),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          th('phonescreen.col.state'),
          th('phonescreen.col.secure_element'),
          th('phonescreen.col.app'),
          th('phonescreen.col.expiry'),
          th('phonescreen.col.created'),
          th('phonescreen.col.actions'),
        ),
      ),
      h(
        'tbody',
        {},
        phones.map((p) => {
          const active = p.state === 'good';
          return h(
            'tr',
            { 'data-phone': p.id, 'data-state': p.state },
            h('td', { class: `cert-state state-${p.state}` }, stateLabel(p.state)),
            h('td', {}, p.secureElement ?? '—'),
            h('td', {}, p.app ?? '—'),
            h('td', {}, dateRich(p.notAfter)),
            h('td', {}, dateRich(p.createdAt)),
            h(
              'td',
              {},
              active
                ? h('div', { class: 'actions' }, [
                    button('offer', tRich('phonescreen.offer.button'), () => {
                      void busy(async () => {
                        const view = await api.PhoneOffer(p.id);
                        if (w === ww) ww.offer = { id: p.id, view };
                      }, '#offer-title');
                    }),
                    button('revoke', tRich('phonescreen.revoke.button'), () => confirmRevoke(ww, p), 'danger'),
                  ])
                : null,
            ),
          );
        }),
      ),
    ),
  );
}

function offerPanel(ww: List, o: OfferView): HTMLElement {
  const digits = o.txCode.split('');
  return h(
    'div',
    { class: 'offer', id: 'offer', role: 'group', 'aria-labelledby': 'offer-title' },
    h('h3', { id: 'offer-title', tabindex: '-1' }, tRich('phonescreen.offer.title')),
    h(
      'div',
      { class: 'offer-body' },
      h('img', { id: 'offer-qr', class: 'offer-qr', src: o.qr, alt: tPlain('phonescreen.offer.alt') }),
      h(
        'div',
        { class: 'offer-text' },
        h('p', {}, tRich('phonescreen.offer.scan')),
        h('p', { class: 'offer-code-label', id: 'offer-code-label' }, tRich('phonescreen.offer.code')),
        h(
          'p',
          { class: 'offer-code', id: 'offer-code', 'aria-labelledby': 'offer-code-label', 'data-code': o.txCode },
          digits.map((d) => h('span', {}, d)),
        ),
        h('p', { class: 'note' }, tRich('phonescreen.offer.type')),
        o.expiresAt ? h('p', { class: 'note' }, tRich('phonescreen.offer.expires', { Time: new Date(o.expiresAt).toLocaleString(lang()) })) : null,
        button('offer-close', tRich('phonescreen.offer.close'), () => {
          ww.offer = undefined;
          paint('#phone-list');
        }),
      ),
    ),
  );
}

// ---- the revocation's confirmation

let dialog: HTMLDialogElement | undefined;

function closeDialog(): void {
  if (!dialog) return;
  const d = dialog;
  dialog = undefined;
  if (d.open) d.close();
  d.remove();
}

function confirmRevoke(ww: List, p: PhoneCredView): void {
  closeDialog();
  const opener = document.activeElement as HTMLElement | null;
  const cancel = () => {
    closeDialog();
    opener?.focus();
  };
  const d = h(
    'dialog',
    { id: 'revoke-dialog', class: 'confirm-dialog', 'aria-labelledby': 'revoke-title', 'aria-describedby': 'revoke-text' },
    h('h2', { id: 'revoke-title' }, tRich('phonescreen.revoke.title')),
    h('p', { id: 'revoke-text' }, tRich('phonescreen.revoke.text', { Date: dateMarkup(p.notAfter), App: p.app ?? '—' })),
    h(
      'div',
      { class: 'wizard-nav' },
      button('revoke-cancel', tRich('counter.nav.cancel'), cancel, 'secondary'),
      button(
        'revoke-confirm',
        tRich('phonescreen.revoke.confirm'),
        () => {
          closeDialog();
          void revoke(ww, p);
        },
        'danger primary',
      ),
    ),
  ) as HTMLDialogElement;
  dialog = d;
  openModal(d, cancel);
  d.querySelector<HTMLElement>('[data-action="revoke-cancel"]')?.focus();
}

async function revoke(ww: List, p: PhoneCredView): Promise<void> {
  let out: ProcedureOutcome | undefined;
  ww.info = undefined;
  await busy(async () => {
    out = await api.PhoneRevoke(p.id, lang());
    if (w !== ww || !out) return;
    if (!out.ok) {
      const f = out.failure;
      ww.error = f ? { key: f.code, count: f.count, data: richPINData(f.data) } : { key: 'flow.error.failed' };
      return;
    }
    if (ww.offer?.id === p.id) ww.offer = undefined;
    ww.phones = await api.PhoneList(ww.source === 'serial' ? ww.serial.trim() : '');
  });
  if (w !== ww || !out?.ok) return;
  ww.info = { key: 'phonescreen.revoke.done', data: { Receipt: out.receipt ?? '—' } };
  paint('#step-info');
}
