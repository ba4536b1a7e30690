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
  return text === undefined ? key : fill(text, data);
}

/** tn returns the plural form of key for count ({{.Count}} in templates). */
export function tn(key: string, count: number, data: Record<string, string | number> = {}): string {
  const form = plural.select(count);
  const text = catalog.messages[`${key}#${form}`] ?? catalog.messages[`${key}#other`];
  return text === undefined ? key : fill(text, { ...data, Count: count });
}
