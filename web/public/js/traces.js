// Traces in the browser (seed 003; README "Traces"): browse an area's messages, objects and
// phantoms a page at a time, leave a three-part message, appraise a message, report a trace.
import {h, fill} from './dom.js';
import {t} from './i18n.js';
import {attempt} from './ui.js';

const KINDS = ['messages', 'objects', 'phantoms'];

export class TracesView {
  constructor(app, close) {
    this.app = app;
    this.client = app.client;
    this.kind = 'messages';
    this.area = h('input#trace-area', {value: 'default', maxlength: 64});
    this.list = h('ul.traces#trace-list');
    this.more = h('div');
    this.err = h('div.err#traces-error');
    this.tabs = h('nav.tabs');
    const parts = [1, 2, 3].map((i) => h('input', {id: 'trace-part' + i, maxlength: 256, placeholder: t('traces.part', {n: i})}));
    const leaveErr = h('div.err#trace-leave-error');
    this.el = h('section.traces#traces',
      h('div.card',
        h('div.row', h('h2', t('traces.title')), h('button#close-traces', {onclick: close}, t('traces.back'))),
        h('p.hint', t('traces.intro')),
        h('form.row', {onsubmit: (e) => { e.preventDefault(); this.load(); }},
          h('label', t('traces.area'), this.area), h('button#trace-browse', {type: 'submit'}, t('traces.browse'))),
        this.tabs, this.list, this.more, this.err),
      h('div.card',
        h('h3', t('traces.leave')),
        h('form#trace-leave', {onsubmit: (e) => {
          e.preventDefault();
          attempt(leaveErr, async () => {
            const me = 'acc-' + this.client.session.account_id;
            await this.client.rest('POST', `/v1/traces/areas/${encodeURIComponent(this.area.value)}`, {
              message: {u_uuid: me, part1: parts[0].value, part2: parts[1].value, part3: parts[2].value},
              phantom: {u_uuid: me, data: []},
            });
            for (const p of parts) p.value = '';
            this.kind = 'messages';
            this.load();
          });
        }}, parts, h('button.primary#trace-send', {type: 'submit'}, t('traces.leave_button'))),
        leaveErr));
    this.load();
  }

  drawTabs() {
    fill(this.tabs, KINDS.map((k) => h('button', {class: k === this.kind ? 'on' : '', dataset: {kind: k},
      onclick: () => { this.kind = k; this.load(); }}, t('traces.kind.' + k))));
  }

  async load(before) {
    this.drawTabs();
    await attempt(this.err, async () => {
      const q = before ? `?limit=20&before=${before}` : '?limit=20';
      const r = await this.client.rest('GET', `/v1/traces/areas/${encodeURIComponent(this.area.value)}/${this.kind}${q}`, undefined, {auth: false});
      if (!before) fill(this.list);
      if (!before && !r.items.length) this.list.append(h('li.empty', t('traces.none')));
      for (const item of r.items) this.list.append(this.row(item));
      fill(this.more, r.next_before ? h('button#trace-more', {onclick: () => this.load(r.next_before)}, t('traces.more')) : null);
    });
  }

  row(item) {
    const err = h('span.err');
    const status = h('span.status');
    const body = this.kind === 'messages' ? [h('span.msg', [item.part1, item.part2, item.part3].filter(Boolean).join(' … ')),
                                             h('span.rating', {dataset: {rating: item.rating ?? 0}}, t('traces.rating', {rating: item.rating ?? 0, votes: item.votes ?? 0}))]
      : this.kind === 'objects' ? [h('span', t('traces.object', {type: item.o_type, pos: item.o_pos}))]
      : [h('span', t('traces.phantom', {n: item.data?.length ?? 0}))];
    const post = (path, data) => attempt(err, async () => {
      const r = await this.client.rest('POST', `/v1/traces/items/${item.id}/${path}`, data ?? {});
      fill(status, r.already_reported ? t('traces.already_reported')
        : path === 'report' ? t('traces.reported') : t('traces.rating', {rating: r.rating, votes: r.votes}));
    });
    return h('li', {dataset: {id: item.id}}, body,
      this.kind === 'messages' ? [h('button.small.good', {onclick: () => post('appraise', {value: 1})}, '👍 ' + t('traces.good')),
                                  h('button.small.bad', {onclick: () => post('appraise', {value: -1})}, '👎 ' + t('traces.bad'))] : null,
      h('button.small.report', {onclick: () => post('report')}, t('traces.report')), status, err);
  }
}
