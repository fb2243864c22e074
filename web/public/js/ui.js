// Shared pieces of the screens: errors shown in place, in the player's language.
import {h, fill} from './dom.js';
import * as i18n from './i18n.js';
import {errorText} from './i18n.js';

/** An error line under a form: readable text in the player's language, and in English the
 * server's own detail when it says more. */
export function errorLine(e) {
  const text = errorText(e);
  const detail = e?.message && e.message !== e.code && e.message !== text ? e.message : '';
  return h('p.error', {role: 'alert', dataset: {code: e?.code ?? ''}}, text,
           detail && i18n.current() === 'en' ? h('small', ' — ' + detail) : null);
}

/** Runs `fn`; a failure is shown in `slot` (cleared first). Returns the result or undefined. */
export async function attempt(slot, fn) {
  if (slot) fill(slot);
  try {
    return await fn();
  } catch (e) {
    if (slot) fill(slot, errorLine(e));
    else console.error(e);
    return undefined;
  }
}
