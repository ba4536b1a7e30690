// A small helper to build DOM nodes without innerHTML: text is always set
// with textContent, so data from Go can never become markup.

type Attrs = Record<string, string | boolean | ((e: Event) => void)>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else if (v !== false) el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

/**
 * openModal puts a dialog at the end of the page and shows it modally;
 * Escape (the dialog's cancel event) calls onCancel instead of closing it
 * behind the screen's back.
 */
export function openModal(d: HTMLDialogElement, onCancel: () => void): void {
  d.addEventListener('cancel', (e) => {
    e.preventDefault();
    onCancel();
  });
  document.body.append(d);
  d.showModal();
}
