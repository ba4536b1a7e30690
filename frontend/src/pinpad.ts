// The PIN pad the citizen uses across the counter. One pad is one PIN:
// either a new one (typed twice, checked live by Go's CheckNewPIN: a
// format error or a mismatch blocks, a weak choice asks for an explicit
// "use it anyway") or one the citizen knows (the remaining tries and the
// consequence of the next failure are said first).
//
// The value lives in this object only while its step is on screen: never
// in a URL, in storage, in the console or in an attribute. clear() empties
// both the memory and the inputs; the wizard calls it once the value is
// sent or the step is left for good.
import { api, type Notice, type PINCheck, type PINKind } from './api';
import { h } from './dom';
import { message, pinName } from './format';
import { plain, rich, t } from './i18n';

export interface PadSpec {
  /** a unique id prefix for the pad's elements */
  id: string;
  /** the PIN checked and set (for a shared value: the first of them) */
  kind: PINKind;
  min: number;
  max: number;
  /** digits only; else capital letters and digits */
  digits: boolean;
  mode: 'new' | 'existing';
  /** for an existing PIN: the tries left (-1 unknown) and the notice */
  tries?: number;
  notice?: Notice;
  /** the name shown instead of the PIN's own (a value for several PINs) */
  name?: string;
  /** the pad may be left empty (an optional PIN such as the PUK) */
  optional?: boolean;
  /** shuffle the digit keys (a new order for every pad, i.e. every entry) */
  shuffle?: boolean;
  /** render the texts with their ruby markup (furigana, easy Japanese) */
  rich?: boolean;
}

const DIGITS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0'];

/** shuffled is a uniformly random permutation (Fisher–Yates, crypto random). */
function shuffled<T>(xs: T[]): T[] {
  const out = [...xs];
  const r = new Uint32Array(out.length);
  crypto.getRandomValues(r);
  for (let i = out.length - 1; i > 0; i--) {
    const j = r[i] % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

type Field = 'pin' | 'confirm';

export class PinPad {
  private value = '';
  private confirm = '';
  private check?: PINCheck;
  // What the check above was made for: the PIN and the confirmation sent.
  private checkedValue = '';
  private checkedConfirm = '';
  private pending = 0;
  private timer = 0;
  private due?: () => Promise<void>; // the check waiting for its timer
  private inflight?: Promise<void>;
  private anyway = false;
  private visible = false;
  private target: Field = 'pin';
  private skipped = false;
  private inputs: Partial<Record<Field, HTMLInputElement>> = {};
  private feedback?: HTMLElement;
  private shown = '';
  // The digit keys' order, fixed for this pad (this entry).
  private readonly digitOrder: string[];

  constructor(
    readonly spec: PadSpec,
    private readonly onChange: () => void = () => undefined,
  ) {
    this.digitOrder = spec.shuffle ? shuffled(DIGITS) : DIGITS;
  }

  /** digitKeys is the order of the digit keys as shown (row by row; the last one below). */
  digitKeys(): string[] {
    return [...this.digitOrder];
  }

  // A text as shown (with ruby when the pad is rich) and as an attribute.
  private txt(s: string): Node | string {
    return this.spec.rich ? rich(s) : s;
  }

  private attr(s: string): string {
    return this.spec.rich ? plain(s) : s;
  }

  /** name is the PIN's name as the citizen reads it. */
  name(): string {
    return this.spec.name ?? pinName(this.spec.kind);
  }

  blocked(): boolean {
    return this.spec.mode === 'existing' && this.spec.tries === 0;
  }

  /** isSkipped reports whether an optional pad was left out on purpose. */
  isSkipped(): boolean {
    return this.spec.optional === true && this.skipped;
  }

  // The confirmation is compared once it is as long as the PIN: no
  // "differs" while the citizen is still typing it.
  private confirmSent(): string {
    return this.confirm.length >= this.value.length ? this.confirm : '';
  }

  private fresh(): boolean {
    return this.check !== undefined && this.checkedValue === this.value && this.checkedConfirm === this.confirmSent();
  }

  private checkedThisValue(): PINCheck | undefined {
    return this.check !== undefined && this.checkedValue === this.value ? this.check : undefined;
  }

  /** problem is why the pad cannot be used yet (a message), or "". */
  problem(): string {
    const s = this.spec;
    if (this.isSkipped()) return '';
    if (this.blocked()) return message(s.notice?.key || 'flow.error.blocked', 0, { PIN: this.name() });
    if (this.value.length < s.min || this.value.length > s.max) return this.formatText();
    if (s.mode === 'existing') return '';
    if (this.confirm === '') return t('counter.pad.problem.confirm', { PIN: this.name() });
    if (this.confirm !== this.value) return t('counter.pin.mismatch');
    const c = this.check;
    if (!c || !this.fresh()) return t('counter.pad.problem.checking');
    if (c.error) return t(c.error, c.data ?? {});
    if (!c.ok) return this.formatText();
    if ((c.warnings ?? []).length > 0 && !this.anyway) return t('counter.pad.problem.weak');
    return '';
  }

  ready(): boolean {
    return this.problem() === '';
  }

  /** take returns the value (empty for a skipped optional pad). */
  take(): string {
    return this.isSkipped() ? '' : this.value;
  }

  /** clear forgets the value and empties the inputs. */
  clear(): void {
    window.clearTimeout(this.timer);
    this.due = undefined;
    this.pending++;
    this.value = '';
    this.confirm = '';
    this.check = undefined;
    this.checkedValue = '';
    this.checkedConfirm = '';
    this.anyway = false;
    this.target = 'pin';
    for (const el of Object.values(this.inputs)) if (el) el.value = '';
    this.paintFeedback();
  }

  /** focus puts the caret into the field to type next. */
  focus(): void {
    const el = this.inputs[this.target] ?? this.inputs.pin;
    el?.focus();
  }

  private formatText(): string {
    const s = this.spec;
    return s.digits
      ? t('counter.pin.format', { Min: s.min, Max: s.max })
      : t('counter.pin.format_alnum', { Min: s.min, Max: s.max });
  }

  private sanitize(raw: string): string {
    const s = this.spec.digits ? raw.replace(/\D/g, '') : raw.toUpperCase().replace(/[^A-Z0-9]/g, '');
    return s.slice(0, this.spec.max);
  }

  private set(field: Field, v: string): void {
    if (field === 'pin') {
      if (v !== this.value) {
        this.anyway = false;
        this.check = undefined;
      }
      this.value = v;
    } else this.confirm = v;
    const el = this.inputs[field];
    if (el && el.value !== v) el.value = v;
    // A complete fixed-length PIN moves on to its confirmation.
    if (field === 'pin' && this.spec.mode === 'new' && this.spec.min === this.spec.max && v.length === this.spec.max && this.confirm === '') {
      this.target = 'confirm';
      this.inputs.confirm?.focus();
    }
    this.scheduleCheck();
    this.paintFeedback();
    this.onChange();
  }

  private scheduleCheck(): void {
    if (this.spec.mode !== 'new') return;
    window.clearTimeout(this.timer);
    const seq = ++this.pending;
    this.due = undefined;
    if (this.value.length < this.spec.min) {
      this.check = undefined;
      return;
    }
    const pin = this.value;
    const confirm = this.confirmSent();
    const done = (c: PINCheck) => {
      if (seq !== this.pending) return;
      this.check = c;
      this.checkedValue = pin;
      this.checkedConfirm = confirm;
      this.paintFeedback();
      this.onChange();
    };
    const check = () => {
      this.due = undefined;
      this.inflight = api
        .CheckNewPIN({ kind: this.spec.kind, pin, confirm })
        .then(done)
        .catch(() => done({ ok: false, error: 'error.unavailable', warnings: [] }));
      return this.inflight;
    };
    this.due = check;
    this.timer = window.setTimeout(() => void check(), 120);
  }

  /** settled waits for the live check of what is typed now. */
  settled(): Promise<void> {
    if (this.due) {
      window.clearTimeout(this.timer);
      return this.due();
    }
    return this.inflight ?? Promise.resolve();
  }

  /** press is an on-screen key: a digit, "back" or "clear". */
  private press(k: string): void {
    const field = this.target;
    const cur = field === 'pin' ? this.value : this.confirm;
    const next = k === 'back' ? cur.slice(0, -1) : k === 'clear' ? '' : this.sanitize(cur + k);
    this.set(field, next);
  }

  private field(field: Field): HTMLElement {
    const s = this.spec;
    const id = `${s.id}-${field}`;
    const hint = `${s.id}-format`;
    const input = h('input', {
      id,
      type: this.visible ? 'text' : 'password',
      class: 'pin-input',
      inputmode: s.digits ? 'numeric' : 'text',
      autocomplete: 'off',
      autocapitalize: s.digits ? 'off' : 'characters',
      autocorrect: 'off',
      spellcheck: 'false',
      maxlength: String(s.max),
      'aria-describedby': hint,
      'data-pin-field': field,
      disabled: this.blocked() || this.isSkipped(),
      oninput: () => this.set(field, this.sanitize(input.value)),
      onfocus: () => {
        this.target = field;
      },
      onkeydown: (e: Event) => {
        if ((e as KeyboardEvent).key === 'Enter') {
          e.preventDefault();
          const next = document.querySelector<HTMLButtonElement>('[data-action="next"]');
          if (field === 'pin' && this.inputs.confirm) this.inputs.confirm.focus();
          else next?.click();
        }
      },
    });
    input.value = field === 'pin' ? this.value : this.confirm;
    this.inputs[field] = input;
    const label =
      field === 'confirm'
        ? t('counter.pad.confirm_label', { PIN: this.name() })
        : s.mode === 'new'
          ? t('counter.pad.new_label', { PIN: this.name() })
          : t('counter.pad.existing_label', { PIN: this.name() });
    return h('div', { class: 'pin-field' }, h('label', { for: id }, this.txt(label)), input);
  }

  private keypad(): HTMLElement {
    const d = this.digitOrder;
    const keys = [...d.slice(0, 9), 'clear', d[9], 'back'];
    const off = this.blocked() || this.isSkipped();
    return h(
      'div',
      {
        class: `keypad${this.spec.shuffle ? ' shuffled' : ''}`,
        role: 'group',
        'aria-label': this.attr(t('counter.pad.keypad', { PIN: this.name() })),
      },
      keys.map((k) =>
        h(
          'button',
          {
            type: 'button',
            class: `key key-${k.length === 1 ? 'digit' : k}`,
            'data-key': k,
            disabled: off,
            // Keep the caret where it is: the key types into that field.
            onmousedown: (e: Event) => e.preventDefault(),
            onclick: () => this.press(k),
          },
          k === 'back' ? this.txt(t('counter.pad.key_back')) : k === 'clear' ? this.txt(t('counter.pad.key_clear')) : k,
        ),
      ),
    );
  }

  private paintFeedback(): void {
    const fb = this.feedback;
    if (!fb) return;
    const s = this.spec;
    let error = '';
    let ok = false;
    let warns: { code: string; key: string }[] = [];
    if (s.mode === 'new' && !this.isSkipped()) {
      const c = this.check;
      const mine = this.checkedThisValue();
      if (c && this.fresh() && c.error) error = t(c.error, c.data ?? {});
      else if (this.confirmSent() !== '' && this.confirm !== this.value) error = t('counter.pin.mismatch');
      else if (mine?.error && mine.error !== 'counter.pin.mismatch') error = t(mine.error, mine.data ?? {});
      ok = error === '' && c !== undefined && this.fresh() && c.ok && this.confirm !== '' && this.confirm === this.value;
      warns = mine?.warnings ?? [];
    }
    // Rebuild only when what is said changes (screen readers announce it).
    const sig = JSON.stringify([error, ok, warns.map((w) => w.key)]);
    if (sig === this.shown) return;
    this.shown = sig;
    const parts: HTMLElement[] = [];
    if (error) parts.push(h('p', { class: 'error pad-error', role: 'alert', 'data-pad': 'error' }, this.txt(error)));
    if (ok) parts.push(h('p', { class: 'pad-ok', 'data-pad': 'ok' }, this.txt(t('counter.pad.match'))));
    if (warns.length > 0) {
      const box = h('input', {
        type: 'checkbox',
        id: `${s.id}-anyway`,
        'data-pad': 'anyway',
        onchange: () => {
          this.anyway = box.checked;
          this.onChange();
        },
      });
      box.checked = this.anyway;
      parts.push(
        h(
          'div',
          { class: 'pad-warning', role: 'alert', 'data-pad': 'warning' },
          h('ul', {}, warns.map((w) => h('li', { 'data-warning': w.code }, this.txt(t(w.key))))),
          h('div', { class: 'check' }, box, h('label', { for: `${s.id}-anyway` }, this.txt(t('counter.pad.use_anyway')))),
        ),
      );
    }
    fb.replaceChildren(...parts);
  }

  /** el builds the pad for the current language (values kept). */
  el(): HTMLElement {
    const s = this.spec;
    this.inputs = {};
    const notice =
      s.mode === 'existing' && s.notice && s.notice.key
        ? h(
            'p',
            { class: `pad-notice${(s.tries ?? 3) <= 1 ? ' warn' : ''}`, id: `${s.id}-notice`, 'data-pad': 'notice' },
            this.txt(message(s.notice.key, s.notice.count, { PIN: this.name() })),
          )
        : null;
    const skip = s.optional
      ? (() => {
          const box = h('input', {
            type: 'checkbox',
            id: `${s.id}-skip`,
            onchange: () => {
              this.skipped = box.checked;
              if (this.skipped) this.clear();
              this.onChange();
              // Rebuild this pad in place (inputs enabled or not).
              const old = document.getElementById(`${s.id}-pad`);
              old?.replaceWith(this.el());
              document.getElementById(`${s.id}-skip`)?.focus();
            },
          });
          box.checked = this.skipped;
          return h('div', { class: 'check' }, box, h('label', { for: `${s.id}-skip` }, this.txt(t('counter.pad.skip', { PIN: this.name() }))));
        })()
      : null;
    const toggle = h(
      'button',
      {
        type: 'button',
        class: 'pad-toggle',
        'aria-pressed': this.visible ? 'true' : 'false',
        'data-pad': 'toggle',
        onclick: () => {
          this.visible = !this.visible;
          toggle.setAttribute('aria-pressed', this.visible ? 'true' : 'false');
          toggle.replaceChildren(this.txt(this.visible ? t('counter.pad.hide') : t('counter.pad.show')));
          for (const el of Object.values(this.inputs)) if (el) el.type = this.visible ? 'text' : 'password';
        },
      },
      this.txt(this.visible ? t('counter.pad.hide') : t('counter.pad.show')),
    );
    this.feedback = h('div', { class: 'pad-feedback', 'aria-live': 'polite' });
    this.shown = '';
    const pad = h(
      'div',
      { class: 'pinpad', id: `${s.id}-pad`, 'data-kind': s.kind, 'data-mode': s.mode },
      notice,
      skip,
      h('p', { class: 'pad-format', id: `${s.id}-format` }, this.txt(this.formatText())),
      h(
        'div',
        { class: 'pad-body' },
        h('div', { class: 'pad-fields' }, this.field('pin'), s.mode === 'new' ? this.field('confirm') : null, toggle),
        this.keypad(),
      ),
      this.feedback,
    );
    this.paintFeedback();
    return pad;
  }
}
