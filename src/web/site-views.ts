import { Eta } from 'eta';
import type { BuildList, BuildPage, HomePage, PocketPage } from './site-data.js';
import type { IndexedBuild } from '../record/build-index.js';

/**
 * The status site's HTML, SVG and Atom, from eta templates that escape every `<%= %>` (HTML
 * and XML need the same five escapes): a package name, a reason or a log line with markup in
 * it is shown as text. The pages work without JavaScript; live.js (the only script, a file,
 * so the Content-Security-Policy can forbid inline script) only follows a running build.
 */

const LAYOUT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title><%= it.title %> · pocketbuild</title>
<link rel="stylesheet" href="/static/site.css">
<% if (it.feed) { %><link rel="alternate" type="application/atom+xml" title="<%= it.title %>" href="<%= it.feed %>"><% } %>
</head><body>
<header><a href="/">pocketbuild</a> · <a href="/builds">builds</a> · <a href="/audit">audit log</a> · <a href="/apt/">apt repository</a> · <a href="/api/home">JSON</a></header>
<main>
<%~ it.body %>
</main>
<% if (it.live) { %><script src="/static/live.js"></script><% } %>
</body></html>
`;

const ROWS = `<% if (!it.items.length) { %><p class="none">No builds.</p><% } else { %>
<table class="builds"><thead><tr><th>build</th><th>status</th><th>pocket</th><th>package</th><th>version</th><th>commit</th><th>by</th><th>finished</th><th>reason</th></tr></thead><tbody>
<% for (const b of it.items) { %><tr class="<%= b.status %>">
<td><a href="/builds/<%= b.id %>"><%= b.id %></a></td><td class="status"><%= b.status %></td>
<td><a href="/pockets/<%= b.pocket %>"><%= b.pocket %></a></td><td><a href="/packages/<%= b.package %>"><%= b.package %></a></td>
<td><%= b.version || '' %><% if (b.promoted_from) { %> <small class="promoted">promoted from <%= b.promoted_from %></small><% } %></td><td><code><%= b.commit.slice(0, 12) %></code></td><td><%= b.principal %></td>
<td><time><%= b.finished %></time></td><td><%= b.code ? b.code + ': ' : '' %><%= b.reason || '' %></td></tr>
<% } %></tbody></table><% } %>`;

const LIST = `<form class="filters" method="get" action="<%= it.action %>">
<% for (const f of ['pocket', 'package', 'principal']) { if (it.fixed !== f) { %>
<label><%= f %> <input name="<%= f %>" value="<%= it.list.filter[f] || '' %>" size="14"></label>
<% } } %>
<label>status <select name="status"><option value="">any</option>
<% for (const s of it.statuses) { %><option<%= it.list.filter.status === s ? ' selected' : '' %>><%= s %></option><% } %>
</select></label> <button>filter</button></form>
<p class="count"><%= it.list.total %> build<%= it.list.total === 1 ? '' : 's' %><% if (it.list.pages > 1) { %>, page <%= it.list.page %> of <%= it.list.pages %><% } %></p>
<%~ include('@rows', it.list) %>
<nav class="pager"><% if (it.list.page > 1) { %><a rel="prev" href="<%= it.pageUrl(it.list.page - 1) %>">newer</a><% } %>
<% if (it.list.page < it.list.pages) { %><a rel="next" href="<%= it.pageUrl(it.list.page + 1) %>">older</a><% } %></nav>`;

const HOME = `<h1>Builds</h1>
<h2>Running</h2>
<% if (!it.home.running.length) { %><p class="none">Nothing is building.</p><% } else { %>
<table><thead><tr><th>build</th><th>package</th><th>pocket</th><th>stage</th><th>elapsed</th><th>by</th></tr></thead><tbody>
<% for (const r of it.home.running) { %><tr class="running"><td><a href="/builds/<%= r.id %>"><%= r.id %></a></td><td><%= r.package %></td><td><%= r.pocket %></td><td><%= r.stage || 'starting' %></td><td><%= r.elapsed_s %> s</td><td><%= r.principal %></td></tr><% } %>
</tbody></table><% } %>
<h2>Queue</h2>
<% if (!it.home.queued.length) { %><p class="none">Nothing is waiting.</p><% } else { %>
<table><thead><tr><th>#</th><th>request</th><th>package</th><th>pocket</th><th>by</th><th>waits for</th></tr></thead><tbody>
<% for (const q of it.home.queued) { %><tr class="queued"><td><%= q.position %></td><td><a href="/builds/<%= q.id %>"><%= q.id %></a></td><td><%= q.package %></td><td><%= q.pocket %></td><td><%= q.principal %></td><td><%= q.waits_for %></td></tr><% } %>
</tbody></table><% } %>
<h2>Recent</h2>
<%~ include('@list', it) %>`;

const POCKET = `<h1>Pocket <%= it.p.pocket %></h1>
<p>APT suite <code><%= it.p.suite %></code> · <img src="/badges/pocket/<%= it.p.pocket %>.svg" alt="status of <%= it.p.pocket %>"> · <a href="/feeds/pocket/<%= it.p.pocket %>.atom">Atom feed</a></p>
<h2>Publishes now</h2>
<% if (!it.p.publishes.length) { %><p class="none">Nothing yet.</p><% } else { %>
<table><thead><tr><th>package</th><th>version</th><th>commit</th><th>built by</th></tr></thead><tbody>
<% for (const b of it.p.publishes) { %><tr><td><a href="/packages/<%= b.package %>"><%= b.package %></a></td><td><%= b.version || '' %></td><td><code><%= b.commit.slice(0, 12) %></code></td><td><a href="/builds/<%= b.id %>"><%= b.id %></a></td></tr><% } %>
</tbody></table><% } %>
<h2>History</h2>
<%~ include('@list', it) %>`;

const PACKAGE = `<h1>Package <%= it.name %></h1>
<p><img src="/badges/package/<%= it.name %>.svg" alt="status of <%= it.name %>"> · <a href="/feeds/package/<%= it.name %>.atom">Atom feed</a></p>
<%~ include('@list', it) %>`;

const BUILD = `<% const b = it.b, r = b.result, q = b.request; %>
<h1>Build <%= b.id %> <span id="status" class="status <%= b.status %>"><%= b.status %></span></h1>
<% if (q) { %><dl class="facts">
<dt>package</dt><dd><a href="/packages/<%= q.package %>"><%= q.package %></a><%= r && r.version ? ' ' + r.version : '' %></dd>
<dt>pocket</dt><dd><a href="/pockets/<%= q.pocket %>"><%= q.pocket %></a></dd>
<% if (q.promote) { %><dt>promoted</dt><dd class="promoted">from <a href="/pockets/<%= q.promote.from %>"><%= q.promote.from %></a>, not rebuilt: the files of build <a href="/builds/<%= q.promote.build %>"><%= q.promote.build %></a></dd><% } %>
<dt>asked by</dt><dd><%= q.principal %> via <%= q.origin %>, <time><%= q.time %></time></dd>
<dt>commit</dt><dd><code><%= q.commit %></code> (asked as <code><%= q.commit_spec %></code>)<% if (b.tree) { %>, tree <code><%= b.tree %></code><% } %></dd>
<% if (r) { %><dt>ran</dt><dd><time><%= r.started %></time> → <time><%= r.finished %></time></dd>
<% if (r.code) { %><dt>outcome</dt><dd><code><%= r.code %></code>: <%= r.reason || '' %></dd><% } %><% } %>
</dl><% } %>
<% if (r && r.stages.length) { %><h2>Stages</h2><table><tbody>
<% for (const s of r.stages) { %><tr><td><%= s.name %></td><td><%= (s.ms / 1000).toFixed(1) %> s</td></tr><% } %></tbody></table><% } %>
<% if (r && r.outputs.length) { %><h2>Outputs</h2><table><thead><tr><th>file</th><th>size</th><th>sha256</th></tr></thead><tbody>
<% for (const o of r.outputs) { %><tr><td><a href="/builds/<%= b.id %>/outputs/<%= encodeURIComponent(o.file) %>"><%= o.file %></a></td><td><%= o.size %></td><td><code><%= o.sha256 %></code></td></tr><% } %></tbody></table><% } %>
<h2>Provenance</h2>
<% if (!b.provenance) { %><p class="none">None (only a published build has one).</p>
<% } else if (b.provenance.verified) { %><p class="verified">Verified: signed by this builder's key, naming builder <code><%= it.builderId %></code>, covering every output above. sha256 <code><%= b.provenance.sha256 %></code> · <a href="/builds/<%= b.id %>/provenance.intoto.jsonl">download</a></p>
<% } else { %><p class="unverified">NOT verified: <%= b.provenance.problem %></p><% } %>
<% if (b.rebuilds.length) { %><h2>Rebuilds</h2><ul><% for (const x of b.rebuilds) { %><li><%= x.at %>: <%= x.status %><%= x.same === null ? '' : x.same ? ', identical outputs' : ', outputs differ' %></li><% } %></ul><% } %>
<h2>Log</h2>
<p><a href="/builds/<%= b.id %>/log">the whole log as text</a><% if (it.cut) { %> (below: its last <%= it.shownKb %> KiB)<% } %></p>
<pre id="log" data-events="/builds/<%= b.id %>/log/events" data-from="<%= it.logEnd %>" data-live="<%= it.live ? 'yes' : 'no' %>"><%= it.log %></pre>`;

const AUDIT = `<h1>Audit log</h1>
<p><%= it.c.size %> entries; chain head <code><%= it.c.head %></code>. The checkpoint below is signed with the builder key
(<a href="/apt/builder.pub">builder.pub</a>); <code>pocketbuild audit verify --against MBOX</code> checks a log against the ones mailed.</p>
<pre><%= it.c.signed %></pre>`;

const BADGE = `<svg xmlns="http://www.w3.org/2000/svg" width="<%= it.w1 + it.w2 %>" height="20" role="img" aria-label="<%= it.label %>: <%= it.value %>">
<title><%= it.label %>: <%= it.value %></title>
<rect width="<%= it.w1 %>" height="20" fill="#555"/><rect x="<%= it.w1 %>" width="<%= it.w2 %>" height="20" fill="<%= it.colour %>"/>
<g fill="#fff" font-family="DejaVu Sans,Verdana,sans-serif" font-size="11">
<text x="6" y="14"><%= it.label %></text><text x="<%= it.w1 + 6 %>" y="14"><%= it.value %></text></g></svg>
`;

const FEED = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
<title>pocketbuild: <%= it.title %></title>
<id><%= it.base %><%= it.self %></id>
<link rel="self" href="<%= it.base %><%= it.self %>"/>
<updated><%= it.updated %></updated>
<% for (const b of it.items) { %><entry>
<title><%= b.package %> <%= b.version || '' %> -> <%= b.pocket %>: <%= b.status %></title>
<id><%= it.base %>/builds/<%= b.id %></id>
<link href="<%= it.base %>/builds/<%= b.id %>"/>
<updated><%= b.finished %></updated>
<author><name><%= b.principal %></name></author>
<summary><%= b.status %><%= b.code ? ' (' + b.code + ')' : '' %><%= b.reason ? ': ' + b.reason : '' %>; commit <%= b.commit %></summary>
</entry>
<% } %></feed>
`;

export const SITE_CSS = `body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{background:#233;padding:.5em 1em}header a{color:#fff}
main{padding:0 1em 2em}table{border-collapse:collapse;margin:.5em 0}
td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.succeeded .status,.status.succeeded{color:#175}.failed .status,.status.failed,.denied .status,.status.denied,.timeout .status,.status.timeout{color:#a21}
.running .status,.status.running,.status.queued{color:#a60}.none{color:#777}
pre#log{background:#f6f6f6;padding:.6em;overflow:auto;max-height:70vh;white-space:pre-wrap}
.verified{color:#175}.unverified{color:#a21;font-weight:bold}dl.facts dt{float:left;width:7em;color:#555}dl.facts dd{margin-left:8em}
.filters label{margin-right:.6em}.pager a{margin-right:1em}
`;

const eta = new Eta({ autoEscape: true, autoTrim: false, cache: true, useWith: false });
for (const [name, text] of Object.entries({
  layout: LAYOUT,
  rows: ROWS,
  list: LIST,
  home: HOME,
  pocket: POCKET,
  package: PACKAGE,
  build: BUILD,
  audit: AUDIT,
  badge: BADGE,
  feed: FEED,
}))
  eta.loadTemplate(`@${name}`, text);

/** The filter form's fields and paging links, for a list shown at `action`. */
export interface ListView {
  list: BuildList;
  action: string;
  /** The filter the page itself fixes (a pocket's page has no pocket field). */
  fixed?: 'pocket' | 'package';
  statuses: readonly string[];
  pageUrl: (page: number) => string;
}

function page(title: string, body: string, extra: { live?: boolean; feed?: string } = {}): string {
  return eta.render('@layout', { title, body, ...extra });
}

export const views = {
  home: (home: HomePage, list: ListView) => page('Builds', eta.render('@home', { home, ...list })),
  builds: (list: ListView) => page('All builds', eta.render('@list', list)),
  pocket: (p: PocketPage, list: ListView) =>
    page(`Pocket ${p.pocket}`, eta.render('@pocket', { p, ...list }), { feed: `/feeds/pocket/${p.pocket}.atom` }),
  package: (name: string, list: ListView) =>
    page(`Package ${name}`, eta.render('@package', { name, ...list }), { feed: `/feeds/package/${name}.atom` }),
  build: (
    b: BuildPage,
    o: { log: string; logEnd: number; cut: boolean; shownKb: number; live: boolean; builderId: string },
  ) => page(`Build ${b.id}`, eta.render('@build', { b, ...o }), { live: o.live }),
  audit: (c: { size: number; head: string; signed: string }) => page('Audit log', eta.render('@audit', { c })),
  error: (status: number, message: string) =>
    page(`${status}`, `<h1>${status}</h1><p>${eta.render('@text', { message })}</p>`),
  badge: (label: string, value: string, colour: string) =>
    eta.render('@badge', { label, value, colour, w1: 12 + label.length * 7, w2: 12 + value.length * 7 }),
  feed: (o: { title: string; base: string; self: string; updated: string; items: IndexedBuild[] }) =>
    eta.render('@feed', o),
};
eta.loadTemplate('@text', '<%= it.message %>');
