// The client's words in Korean and English (i18n/<lang>.json). The language is the player's
// choice (kept in localStorage), else the browser's first preference that we have, else English.
// Every error the server can send has a text in both files (a test checks the table against the
// server's codes), so a player never sees a raw code alone.

const LANGS = ['ko', 'en'];
const KEY = 'maratang.lang';
let lang = 'en';
let words = {};
const listeners = new Set();

export function languages() {
  return LANGS;
}

export function current() {
  return lang;
}

/** The language to start in. */
export function preferred() {
  const saved = localStorage.getItem(KEY);
  if (LANGS.includes(saved)) return saved;
  for (const l of navigator.languages ?? [navigator.language]) {
    const base = String(l).toLowerCase().split('-')[0];
    if (LANGS.includes(base)) return base;
  }
  return 'en';
}

/** Loads and switches to `l`; listeners redraw. */
export async function setLanguage(l, remember = false) {
  const res = await fetch(`/i18n/${l}.json`);
  words = await res.json();
  lang = l;
  document.documentElement.lang = l;
  if (remember) localStorage.setItem(KEY, l);
  for (const fn of listeners) fn(l);
}

export function onLanguage(fn) {
  listeners.add(fn);
}

/** The text of `key` (dotted: 'ui.login'), with {name} placeholders filled from `vars`. */
export function t(key, vars) {
  let s = key.split('.').reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), words);
  if (typeof s !== 'string') s = key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

/** Readable text for a MaratangError (or any error): the code's text in this language. */
export function errorText(e) {
  const code = e?.code ?? 'internal';
  const text = words.errors?.[code];
  if (text) return text;
  return t('errors.unknown', {code});
}
