// The one API of the frontend. Inside the Wails window it calls the Go
// bindings (window.go.app.App); in a browser it calls the same methods
// over HTTP (POST /api/<Method>, served by `madoguchi serve`). Every
// exported method of Go's app.App appears here; a Go test checks it.

export interface Language { tag: string; native: string }

export type Mode = '' | 'counter' | 'kiosk' | 'supervisor';

export interface Info {
  version: string;
  municipality: string;
  counter: string;
  terminal: string;
  language: string;
  languages: Language[];
  mode: Mode;
  demo: boolean;
  face: string;
}

export interface LocalCatalog {
  lang: string;
  messages: Record<string, string>;
  today: string;
}

export interface Component {
  state: 'demo' | 'ok' | 'absent' | 'error';
  label: string;
  detail?: string;
}

export interface QueueStats { pending: number; dead: number }

/** Check is one line of the diagnostics screen (app.Check). */
export interface Check {
  part: 'reader' | 'central' | 'clock' | 'printer' | 'queue' | 'store' | 'disk' | 'fonts';
  state: 'ok' | 'demo' | 'warn' | 'fail';
  label: string;
  data?: Record<string, string | number>;
  detail?: string;
  code?: string;
  fix?: string;
}

export interface DiagnosticsView {
  checks: Check[];
  version: string;
  terminal: string;
  mode: string;
  face: string;
  dataDir: string;
  checkedAt: string;
}

export interface Status {
  demo: boolean;
  reader: Component;
  central: Component;
  queue: QueueStats;
  printer: Component;
  unprinted: number;
  dataDir: string;
  checkedAt: string;
}

export interface ProcedureView {
  id: string;
  label: string;
  online: 'required' | 'queues' | 'optional' | 'never';
  available: boolean;
  note?: string;
}

export interface PaintReport {
  screen: string;
  lang: string;
  bannerShown: boolean;
  statusLoaded: boolean;
  sinceStartMs?: number;
}

/** The kinds of PIN a card has (drivers/card.PINKind). */
export type PINKind = 'auth' | 'sign' | 'input-assist' | 'resident' | 'puk';

/** A localized sentence with the count it speaks of (app/pinpolicy.Notice). */
export interface Notice {
  key: string;
  count: number;
}

/** A weakness of a new PIN (app/pinpolicy.Warning). */
export interface PINWarning {
  code: string;
  key: string;
}

/** The card record's holder as the clerk sees it. */
export interface HolderView {
  name: string;
  address: string;
  /** YYYY-MM-DD */
  birthDate: string;
  sex: string;
  age: number;
}

/** One PIN of the card for the PIN pad. */
export interface PINView {
  kind: PINKind;
  label: string;
  min: number;
  max: number;
  /** digits only; else A–Z and 0–9 */
  digits: boolean;
  /** left now (-1: not known) */
  tries: number;
  maxTries: number;
  /** what to say before an entry (key "" when the tries are not known) */
  notice: Notice;
}

/** The card's and its certificates' validity (app/flow.Expiry); absent times: none. */
export interface Expiry {
  card?: string;
  auth?: string;
  sign?: string;
  cardDue: boolean;
  authDue: boolean;
  signDue: boolean;
}

export type Generation = 'current' | 'next';

/** What the counter shows of the card in the reader. */
export interface CardView {
  serialLast4: string;
  generation: Generation;
  /** the card's state at the central system; "" offline */
  state: string;
  holder: HolderView;
  expiry: Expiry;
  pins: PINView[] | null;
  /** length of the number printed on the card that opens the face photo */
  faceCheckLength: number;
  demo: boolean;
}

/** The card's face photo. */
export interface FaceView {
  /** a data: URL of a PNG */
  photo: string;
  width: number;
  height: number;
}

/** One identity document of the clerk's checklist. */
export interface DocumentView {
  id: string;
  /** one photo document suffices; else two are needed */
  photo: boolean;
  label: string;
}

export interface PINCheckRequest {
  kind: PINKind;
  pin: string;
  /** empty: not entered yet */
  confirm: string;
}

/** The PIN pad's verdict: error blocks, warnings ask to think again. */
export interface PINCheck {
  ok: boolean;
  error?: string;
  data?: Record<string, string | number>;
  warnings: PINWarning[] | null;
}

export interface IdentityInput {
  documents: string[];
  proxy: boolean;
  legalRepresentative: boolean;
  faceMatched: boolean;
}

export interface PINEntry {
  /** "new": the new value of a kiosk's reserved reset (its target is ProcedureRequest.target) */
  kind: PINKind | 'new';
  value: string;
}

export type ProcedureID =
  | 'issuance'
  | 'card_renewal'
  | 'cert_renewal'
  | 'change_of_details'
  | 'pin_reset'
  | 'puk_unlock'
  | 'reserved_reset'
  | 'suspension'
  | 'suspension_lift'
  | 'return';

/** One counter procedure on the card in the reader. */
export interface ProcedureRequest {
  procedure: ProcedureID;
  identity: IdentityInput;
  pins: PINEntry[];
  /** how many values the citizen typed */
  entries: number;
  target?: PINKind;
  serial?: string;
  oldSerial?: string;
  name?: string;
  address?: string;
  reason?: string;
  reissue?: boolean;
  lang: string;
}

/** Where a procedure stopped and why. */
export interface Failure {
  step: string;
  code: string;
  count: number;
  data?: Record<string, string | number>;
  resume: boolean;
}

/** The result screen. */
export interface ProcedureOutcome {
  ok: boolean;
  procedure: string;
  receipt?: string;
  printed?: string;
  expiry: Expiry;
  queued: boolean;
  notices: string[] | null;
  failure?: Failure;
  ms: number;
  apdus: number;
}

/** What the kiosk screens need once (app.KioskSettings). */
export interface KioskSettings {
  idleSeconds: number;
  warnSeconds: number;
  /** shuffle the PIN pad's digit keys for every entry */
  shuffle: boolean;
  /** in the order of the language choice */
  languages: Language[] | null;
}

/** The Go side's state of the citizen's kiosk session (app.KioskView). */
export interface KioskView {
  active: boolean;
  lang?: string;
  secondsLeft: number;
  /** a card session is open */
  card: boolean;
}

/** The card on the kiosk's reader (one placement for the whole procedure). */
export interface KioskCardView {
  generation: Generation;
  hasPUK: boolean;
  pins: PINView[] | null;
  expiry: Expiry;
}

/** A certificate's state at the central system. */
export type CertState = 'good' | 'suspended' | 'revoked' | 'unknown';

/** A smartphone credential of the card's holder. */
export interface PhoneView {
  state: string;
  notAfter: string;
}

/** The kiosk's status check: expiry, certificate states, phones, tries. */
export interface KioskStatusView {
  generation: Generation;
  expiry: Expiry;
  authState: CertState | string;
  signState: CertState | string;
  phones: PhoneView[] | null;
  /** the central system answered (else: what the card holds only) */
  online: boolean;
  pins: PINView[] | null;
}

/** The demo cards DemoInsert can put into the built-in reader. */
export type DemoCardKind = 'blank' | 'issued' | 'due' | 'blank-next' | 'issued-next' | 'due-next' | 'phone' | 'phone-unapproved';

/** An error from Go: code is a message key such as "error.store". */
export class ApiError extends Error {
  constructor(public readonly code: string, public readonly status = 0) {
    super(code);
  }
}

type Bound = Record<string, (...args: unknown[]) => Promise<unknown>>;

function wailsBinding(): Bound | undefined {
  return (window as unknown as { go?: { app?: { App?: Bound } } }).go?.app?.App;
}

/** inWindow reports whether the UI runs inside the Wails window. */
export function inWindow(): boolean {
  return wailsBinding() !== undefined;
}

async function call<T>(method: string, ...args: unknown[]): Promise<T> {
  const bound = wailsBinding();
  if (bound) {
    try {
      return (await bound[method](...args)) as T;
    } catch (e) {
      throw new ApiError(String(e instanceof Error ? e.message : e));
    }
  }
  let res: Response;
  try {
    res = await fetch(`/api/${method}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify(args),
    });
  } catch {
    throw new ApiError('error.unavailable');
  }
  const body = (await res.json().catch(() => ({}))) as { result?: T; error?: string };
  if (!res.ok || body.error) throw new ApiError(body.error ?? 'error.internal', res.status);
  return body.result as T;
}

/** The staff member logged in on this terminal (app.SessionView). */
export interface SessionView {
  loggedIn: boolean;
  login?: string;
  name?: string;
  role?: 'clerk' | 'supervisor' | 'kiosk';
}

/** A supervisor's login and password given at the terminal (app.Approval). */
export interface Approval {
  login: string;
  password: string;
}

/** One job on the supervisor's queue screen (app.QueueJobView). */
export interface QueueJobView {
  id: number;
  kind: string;
  state: string;
  attempts: number;
  reason?: string;
  created: string;
}

/** The card's part of storing a credential on a phone (app.PhoneCardRequest). */
export interface PhoneCardRequest {
  identity: IdentityInput;
  signPIN: string;
  faceCheck?: string;
}

/** The holder proven with the card; the card may be taken (app.PhoneCardView). */
export interface PhoneCardView {
  serialLast4: string;
  portrait: boolean;
}

/** The phone's part (app.PhoneStoreRequest). */
export interface PhoneStoreRequest {
  replace: boolean;
  mdoc: boolean;
  lang: string;
}

/** The result of storing on a phone (app.PhoneOutcome). */
export interface PhoneOutcome extends ProcedureOutcome {
  phoneId?: string;
  device?: string;
  replaced?: string;
  mdoc: boolean;
}

/** One smartphone credential of the holder (app.PhoneCredView). */
export interface PhoneCredView {
  id: string;
  state: string;
  secureElement?: string;
  app?: string;
  notAfter: string;
  createdAt: string;
  replaced?: string;
}

/** An OpenID4VCI credential offer (app.OfferView). */
export interface OfferView {
  qr: string;
  txCode: string;
  expiresAt: string;
}

/** The day's figures of this terminal (app.ReportView). */
export interface ReportView {
  /** YYYY-MM-DD */
  date: string;
  terminal: string;
  procedures: { kind: string; outcome: string; count: number }[];
  handling: { kind: string; count: number; medianSec: number; p90Sec: number }[];
  kiosk: { procedure: string; started: number; completed: number; failed: number; dropped: number; droppedAt: Record<string, number> }[];
  pinResets: Record<string, number>;
  queue: { backlog: number; dead: number };
  reprints: number;
  nearExpiry: Record<string, number>;
}

export type ReportFormat = 'csv' | 'xlsx' | 'pdf';

/** An exported report file (app.ExportView). */
/** SavedFile is where the window's save dialog put a report. */
export interface SavedFile {
  path: string;
  cancelled: boolean;
}

export interface ReportFile {
  filename: string;
  mime: string;
  /** base64 */
  data: string;
}

/** A stored receipt on the reprint screen (app.ReceiptView). */
export interface ReceiptView {
  number: string;
  procedure: string;
  issued: string;
  status: 'printed' | 'unprinted';
}

export const api = {
  Info: () => call<Info>('Info'),
  Catalog: (lang: string) => call<LocalCatalog>('Catalog', lang),
  Status: () => call<Status>('Status'),
  Diagnostics: () => call<DiagnosticsView>('Diagnostics'),
  FirstPaint: (r: PaintReport) => call<PaintReport>('FirstPaint', r),
  Procedures: (mode: Mode) => call<ProcedureView[]>('Procedures', mode),
  CounterCard: () => call<CardView>('CounterCard'),
  CounterFace: (check: string) => call<FaceView>('CounterFace', check),
  IdentityDocuments: () => call<DocumentView[] | null>('IdentityDocuments'),
  CheckNewPIN: (r: PINCheckRequest) => call<PINCheck>('CheckNewPIN', r),
  RunProcedure: (r: ProcedureRequest) => call<ProcedureOutcome>('RunProcedure', r),
  DemoInsert: (kind: DemoCardKind) => call<CardView>('DemoInsert', kind),
  CounterEnd: () => call<boolean>('CounterEnd'),
  KioskSettings: () => call<KioskSettings>('KioskSettings'),
  KioskStart: (lang: string) => call<KioskView>('KioskStart', lang),
  KioskChoose: (procedure: string) => call<KioskView>('KioskChoose', procedure),
  KioskTouch: () => call<KioskView>('KioskTouch'),
  KioskEnd: () => call<boolean>('KioskEnd'),
  KioskState: () => call<KioskView>('KioskState'),
  KioskExit: (code: string) => call<boolean>('KioskExit', code),
  KioskCard: () => call<KioskCardView>('KioskCard'),
  KioskStatus: () => call<KioskStatusView>('KioskStatus'),
  KioskRun: (r: ProcedureRequest) => call<ProcedureOutcome>('KioskRun', r),
  Login: (login: string, password: string) => call<SessionView>('Login', login, password),
  Logout: () => call<boolean>('Logout'),
  WhoAmI: () => call<SessionView>('WhoAmI'),
  QueueJobs: () => call<QueueJobView[]>('QueueJobs'),
  QueueDiscard: (id: number, reason: string, approval: Approval | null) =>
    call<boolean>('QueueDiscard', id, reason, approval),
  QueueRetry: (id: number) => call<boolean>('QueueRetry', id),
  Reprint: (number: string, approval: Approval | null) => call<string>('Reprint', number, approval),
  Receipts: () => call<ReceiptView[]>('Receipts'),
  PhonePrepare: (r: PhoneCardRequest) => call<PhoneCardView>('PhonePrepare', r),
  PhoneStore: (r: PhoneStoreRequest) => call<PhoneOutcome>('PhoneStore', r),
  PhoneList: (serial: string) => call<PhoneCredView[]>('PhoneList', serial),
  PhoneRevoke: (id: string, lang: string) => call<ProcedureOutcome>('PhoneRevoke', id, lang),
  PhoneOffer: (id: string) => call<OfferView>('PhoneOffer', id),
  DailyReport: (date: string) => call<ReportView>('DailyReport', date),
  ExportReport: (date: string, format: ReportFormat, lang: string) => call<ReportFile>('ExportReport', date, format, lang),
  SaveReport: (date: string, format: ReportFormat, lang: string) => call<SavedFile>('SaveReport', date, format, lang),
};

/** login sends the access code when `serve` runs beyond loopback. */
export async function login(code: string): Promise<boolean> {
  const res = await fetch('/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify({ code }),
  });
  return res.ok;
}
