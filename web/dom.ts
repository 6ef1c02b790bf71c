/** Building the DOM without HTML strings: text always goes in as text, so no answer can inject markup. */
type Child = Node | string | number | false | null | undefined;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  el.append(...nodes(children));
  return el;
}

function nodes(children: (Child | Child[])[]): (Node | string)[] {
  return children
    .flat()
    .filter((c): c is Node | string | number => c !== null && c !== undefined && c !== false)
    .map((c) => (typeof c === 'number' ? String(c) : c));
}

/** "3 s", "4 min", "2 h", "5 d": how long ago or how long, in the largest whole unit. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

export function clock(at: number): string {
  return new Date(at).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

/** A phase or verdict as a badge whose colour class says good, bad, waiting or moving. */
export function badge(text: string): HTMLSpanElement {
  return h('span', { class: `badge ${tone(text)}` }, text);
}

function tone(text: string): string {
  if (/^(Successful|Promoted|FullDeploy|StableOnly)$/.test(text)) return 'good';
  if (/^(Failed|Error|Rollback|RolledBack|Aborted|Degraded)$/.test(text)) return 'bad';
  if (/^(Paused|Inconclusive|Stopped)$/.test(text)) return 'wait';
  return 'moving';
}

/** Sets a width in percent through the CSSOM: the CSP (style-src 'self') refuses style attributes. */
export function widthOf<E extends HTMLElement>(el: E, percent: number): E {
  el.style.width = `${Math.max(0, Math.min(100, percent))}%`;
  return el;
}
