// Formatting shared by the counter screens: dates in the Japanese era and
// the Western calendar (as Go's i18n.Bundle.FormatDate does, from the same
// messages), messages that may or may not have plural forms, PIN names.
import type { PINKind } from './api';
import { Markup, markup, t, tn, tnMarkup, type RichData } from './i18n';

interface Civil {
  y: number;
  m: number;
  d: number;
}

// Eras, newest first, with their first day (as app/i18n/era.go).
const eras: [string, Civil][] = [
  ['reiwa', { y: 2019, m: 5, d: 1 }],
  ['heisei', { y: 1989, m: 1, d: 8 }],
  ['showa', { y: 1926, m: 12, d: 25 }],
  ['taisho', { y: 1912, m: 7, d: 30 }],
  ['meiji', { y: 1868, m: 10, d: 23 }],
];

function before(a: Civil, b: Civil): boolean {
  return a.y !== b.y ? a.y < b.y : a.m !== b.m ? a.m < b.m : a.d < b.d;
}

const JST_MS = 9 * 60 * 60 * 1000;

/**
 * civil is the calendar date of an ISO value: "YYYY-MM-DD" as it is, a
 * time as its date in Japan (the card's dates are Japanese dates).
 */
export function civil(iso: string | undefined): Civil | undefined {
  if (!iso) return undefined;
  const plain = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  if (plain) return { y: +plain[1], m: +plain[2], d: +plain[3] };
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return undefined;
  const j = new Date(ms + JST_MS);
  return { y: j.getUTCFullYear(), m: j.getUTCMonth() + 1, d: j.getUTCDate() };
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** isoDate is YYYY-MM-DD of a date (in Japan), or "". */
export function isoDate(iso: string | undefined): string {
  const c = civil(iso);
  return c ? `${pad(c.y, 4)}-${pad(c.m, 2)}-${pad(c.d, 2)}` : '';
}

/** formatDate shows a date in the Japanese era and the Western calendar. */
export function formatDate(iso: string | undefined): string {
  const c = civil(iso);
  if (!c) return '';
  const isoText = `${pad(c.y, 4)}-${pad(c.m, 2)}-${pad(c.d, 2)}`;
  const era = eras.find(([, start]) => !before(c, start));
  if (!era) return isoText;
  const year = c.y - era[1].y + 1;
  return t('date.era_and_western', {
    Era: t(`era.${era[0]}`),
    Year: year === 1 ? t('era.first_year') : year,
    Month: c.m,
    Day: c.d,
    MonthName: t(`month.${c.m}`),
    ISO: isoText,
    WesternYear: c.y,
  });
}

/**
 * message localizes a key from Go that may have plural forms (tries left)
 * or not: the plural form for count when there is one, else the plain
 * message.
 */
export function message(key: string, count = 0, data: Record<string, string | number> = {}): string {
  const plural = tn(key, count, data);
  return plural !== key ? plural : t(key, { ...data, Count: count });
}

const pinLabels: Record<PINKind, string> = {
  auth: 'pin.auth',
  sign: 'pin.sign',
  'input-assist': 'pin.input_assist',
  resident: 'pin.resident',
  puk: 'pin.puk',
};

/** pinName is the localized name of a PIN kind. */
export function pinName(kind: string): string {
  const key = pinLabels[kind as PINKind];
  return key ? t(key) : kind;
}

/**
 * withPINName names the PIN of a message's data in the current language:
 * from PINKind when Go sends it, else from PIN when that is a kind
 * ("auth"); a PIN already named stays.
 */
export function withPINName(data: Record<string, string | number> | undefined): Record<string, string | number> {
  const out = { ...(data ?? {}) };
  const kind = typeof out.PINKind === 'string' ? out.PINKind : typeof out.PIN === 'string' ? out.PIN : '';
  if (kind in pinLabels) out.PIN = pinName(kind);
  return out;
}

/** sexKey is the message of a sex code (ISO/IEC 5218, as on the card). */
export function sexKey(code: string): string {
  switch (code) {
    case '1':
      return 'sex.male';
    case '2':
      return 'sex.female';
    case '9':
      return 'sex.not_applicable';
  }
  return 'sex.unknown';
}

/** pinMarkup is the name of a PIN kind as Markup (for tRich; easy Japanese has furigana). */
export function pinMarkup(kind: string): Markup {
  return markup(pinLabels[kind as PINKind] ?? kind);
}

/** dateMarkup is formatDate as Markup (the era's name may have furigana). */
export function dateMarkup(iso: string | undefined): Markup {
  return new Markup(formatDate(iso).replace(/&/g, '&amp;'));
}

/** messageMarkup is message() as Markup, for tRich. */
export function messageMarkup(key: string, count = 0, data: RichData = {}): Markup {
  return tnMarkup(key, count, data) ?? markup(key, { ...data, Count: count });
}
