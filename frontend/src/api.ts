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

export const api = {
  Info: () => call<Info>('Info'),
  Catalog: (lang: string) => call<LocalCatalog>('Catalog', lang),
  Status: () => call<Status>('Status'),
  FirstPaint: (r: PaintReport) => call<PaintReport>('FirstPaint', r),
  Procedures: (mode: Mode) => call<ProcedureView[]>('Procedures', mode),
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
