// Localized text from the catalogue Go sends for the current language.
// Templates use Go's {{.Name}} placeholders; plural messages arrive as
// "key#one", "key#other" …, chosen with Intl.PluralRules.
import type { LocalCatalog } from './api';

let catalog: LocalCatalog = { lang: 'ja', messages: {}, today: '' };
let plural = new Intl.PluralRules('ja');

export function setCatalog(c: LocalCatalog): void {
  catalog = c;
  plural = new Intl.PluralRules(c.lang);
  document.documentElement.lang = c.lang;
}

export function lang(): string {
  return catalog.lang;
}

export function today(): string {
  return catalog.today;
}

function fill(text: string, data: Record<string, string | number>): string {
  return text.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (m, name: string) => (name in data ? String(data[name]) : m));
}

/** t returns the message for key, or the key itself when it is missing. */
export function t(key: string, data: Record<string, string | number> = {}): string {
  const text = catalog.messages[key];
  return text === undefined ? key : fill(noMarkup(text), data);
}

/** noMarkup drops furigana markup from a catalogue text for places that
 * show plain text (t, tn); tRich renders it. */
function noMarkup(text: string): string {
  return text.includes('<') ? plain(text) : text;
}

/** tn returns the plural form of key for count ({{.Count}} in templates). */
export function tn(key: string, count: number, data: Record<string, string | number> = {}): string {
  const form = plural.select(count);
  const text = catalog.messages[`${key}#${form}`] ?? catalog.messages[`${key}#other`];
  return text === undefined ? key : fill(noMarkup(text), { ...data, Count: count });
}

// ---- Rich text: messages with furigana.
//
// Easy Japanese (ja-x-easy) messages carry readings as ruby markup, e.g.
// "<ruby>暗証番号<rt>あんしょうばんごう</rt></ruby>". rich() turns such a text
// into DOM nodes allowing ONLY ruby, rt and rp elements, without their
// attributes: everything else is text (escaped by construction, as text
// nodes) or dropped. No HTML parser of the browser is involved, so no
// markup from a message or its data can ever load, run or style anything.

/** Markup is catalogue text that may hold ruby markup; tRich keeps it as markup. */
export class Markup {
  constructor(readonly text: string) {}
}

/** RichData are a message's values: plain ones are shown as they are. */
export type RichData = Record<string, string | number | Markup>;

const RICH_TAGS = new Set(['ruby', 'rt', 'rp']);
// Elements whose content is not text to show: dropped whole.
const DROPPED = /<(script|style|template|noscript|iframe|object|embed|textarea|title|xmp|svg|math|select)\b(?:"[^"]*"|'[^']*'|[^'">])*>[\s\S]*?(?:<\/\1\s*>|$)/gi;
const TOKEN = /<!--[\s\S]*?(?:-->|$)|<(\/?)([A-Za-z][A-Za-z0-9-]*)(?:"[^"]*"|'[^']*'|[^'">])*>|[^<]+|</g;
const ENTITY = /&(amp|lt|gt|quot|apos|nbsp|#\d{1,7}|#x[0-9a-fA-F]{1,6});/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

function decodeEntities(s: string): string {
  return s.replace(ENTITY, (m, e: string) => {
    if (e in NAMED) return NAMED[e];
    const code = e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff) ? String.fromCodePoint(code) : m;
  });
}

function escapeMarkup(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** rich builds the nodes of a text with ruby markup (see above). */
export function rich(markup: string): DocumentFragment {
  const out = document.createDocumentFragment();
  const stack: { name: string; el: Node }[] = [{ name: '', el: out }];
  const top = () => stack[stack.length - 1];
  for (const m of markup.replace(DROPPED, '').matchAll(TOKEN)) {
    const [token, closing, rawName] = m;
    if (token.startsWith('<!--')) continue;
    if (rawName === undefined) {
      top().el.appendChild(document.createTextNode(decodeEntities(token)));
      continue;
    }
    const name = rawName.toLowerCase();
    if (!RICH_TAGS.has(name)) continue; // any other tag: dropped, its text kept
    if (closing) {
      const i = stack.map((s) => s.name).lastIndexOf(name);
      if (i > 0) stack.length = i;
      continue;
    }
    // rt and rp belong inside ruby; ruby does not nest.
    const inRuby = stack.some((s) => s.name === 'ruby');
    if ((name === 'ruby') === inRuby) continue;
    if (name !== 'ruby' && top().name !== 'ruby') {
      // An rt or rp left open ends where the next one starts.
      if (top().name !== 'rt' && top().name !== 'rp') continue;
      stack.pop();
    }
    const el = document.createElement(name);
    top().el.appendChild(el);
    stack.push({ name, el });
  }
  return out;
}

/** plain is a text with ruby markup as plain text (readings left out), for attributes. */
export function plain(markup: string): string {
  const f = rich(markup);
  for (const r of f.querySelectorAll('rt, rp')) r.remove();
  return f.textContent ?? '';
}

function fillRich(text: string, data: RichData): string {
  return text.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (m, name: string) => {
    if (!(name in data)) return m;
    const v = data[name];
    return v instanceof Markup ? v.text : escapeMarkup(String(v));
  });
}

/** markup is a message as Markup, to fill into another message. */
export function markup(key: string, data: RichData = {}): Markup {
  const text = catalog.messages[key];
  return new Markup(text === undefined ? escapeMarkup(key) : fillRich(text, data));
}

/** tnMarkup is the plural form of key for count as Markup, or undefined when key has no plural forms. */
export function tnMarkup(key: string, count: number, data: RichData = {}): Markup | undefined {
  const text = catalog.messages[`${key}#${plural.select(count)}`] ?? catalog.messages[`${key}#other`];
  return text === undefined ? undefined : new Markup(fillRich(text, { ...data, Count: count }));
}

/**
 * tRich renders a message that may hold furigana (ruby markup) as DOM
 * nodes; plain values of data are shown as they are, Markup values (other
 * messages) keep their ruby.
 */
export function tRich(key: string, data: RichData = {}): DocumentFragment {
  return rich(markup(key, data).text);
}

/** tnRich is tRich with the plural form for count ({{.Count}}). */
export function tnRich(key: string, count: number, data: RichData = {}): DocumentFragment {
  return rich((tnMarkup(key, count, data) ?? markup(key, { ...data, Count: count })).text);
}

/** tPlain is a message as plain text without readings, for attributes. */
export function tPlain(key: string, data: RichData = {}): string {
  return plain(markup(key, data).text);
}

/** has reports whether the catalogue has key (plain or plural). */
export function has(key: string): boolean {
  return key in catalog.messages || `${key}#other` in catalog.messages;
}
