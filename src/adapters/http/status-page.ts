import type { StatusSnapshot } from '../../ports/observer.js';

/**
 * The daemon's read-only status page. Rendered here only: the page's small script fetches the
 * same fragment again every 2 s (so the markup and its escaping exist once) and the page reads
 * fine with scripts off. No external assets: the page must work where the daemon runs.
 */
export function renderStatusPage(s: StatusSnapshot): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>reexport status</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>reexport</h1><span id="updated" class="muted">${esc(s.generatedAt)}</span></header>
<main id="status">${renderStatusFragment(s)}</main>
<footer class="muted">JSON: <a href="/api/status">/api/status</a> · <a href="/metrics">/metrics</a></footer>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

/** The part of the page that changes. */
export function renderStatusFragment(s: StatusSnapshot): string {
  return [execution(s), requests(s), passes(s), executions(s)].join('\n');
}

function execution(s: StatusSnapshot): string {
  const r = s.running;
  const running = r
    ? `<div class="card" id="running" data-request="${esc(r.request)}" data-done="${r.done}"${
        r.total !== undefined ? ` data-total="${r.total}"` : ''
      }>
<div><strong>${esc(r.request)}</strong> <span class="state executing">executing</span></div>
<progress max="${r.total ?? 0}" value="${r.done}"></progress>
<div class="nums"><span id="applied">${num(r.done)}</span> / ${r.total !== undefined ? num(r.total) : '?'} entries${
        r.rate !== undefined ? ` · ${esc(r.rate.toFixed(1))}/s` : ''
      }${r.etaSeconds !== undefined ? ` · ${esc(duration(r.etaSeconds))} left` : ''}</div>
<div class="muted">started ${esc(r.startedAt)}</div>
</div>`
    : '<p class="muted" id="running-none">No execution running.</p>';
  const queue = s.queue.length
    ? `<ol id="queue">${s.queue.map((q) => `<li>${esc(q.request)} <span class="muted">queued ${esc(q.queuedAt)}</span></li>`).join('')}</ol>`
    : '<p class="muted">Queue empty.</p>';
  return `<section><h2>Execution</h2>${running}<h3>Queue</h3>${queue}</section>`;
}

function requests(s: StatusSnapshot): string {
  if (s.branches.length === 0)
    return '<section><h2>Requests</h2><p class="muted">None seen yet.</p></section>';
  const branches = s.branches.map(
    (b) =>
      `<div class="branch" data-branch="${esc(b.name)}"><h3>${esc(b.name)}</h3><ul>${b.requests
        .map(
          (r) =>
            `<li data-request="${esc(r.name)}" data-state="${esc(r.state)}"><span class="state ${cls(r.state)}">${esc(r.state)}</span> ${
              r.reportUrl ? `<a href="${esc(r.reportUrl)}">${esc(r.name)}</a>` : esc(r.name)
            }${r.commit ? ` <code>${esc(r.commit.slice(0, 10))}</code>` : ''}${
              r.message ? `<div class="muted">${esc(r.message)}</div>` : ''
            }</li>`,
        )
        .join('')}</ul></div>`,
  );
  return `<section><h2>Requests</h2>${branches.join('')}</section>`;
}

function passes(s: StatusSnapshot): string {
  if (s.passes.length === 0) return '<section><h2>Passes</h2><p class="muted">No pass yet.</p></section>';
  const items = s.passes.map((p) => {
    const verdict = p.ok === undefined ? 'running' : p.ok ? 'ok' : 'failed';
    const summary = p.summary
      ? ` <span class="muted">${Object.entries(p.summary)
          .map(([k, v]) => `${esc(k)} ${num(v)}`)
          .join(', ')}</span>`
      : '';
    const errors = p.errors.length
      ? `<ul class="errors">${p.errors.map((e) => `<li>${esc(e)}</li>`).join('')}</ul>`
      : '';
    return `<li class="pass" data-ok="${verdict}"><span class="state ${verdict}">${verdict}</span> ${esc(p.startedAt)}${
      p.durationMs !== undefined ? ` · ${esc(duration(p.durationMs / 1000))}` : ''
    }${summary}${errors}</li>`;
  });
  return `<section><h2>Passes</h2><ul id="passes">${items.join('')}</ul></section>`;
}

function executions(s: StatusSnapshot): string {
  if (s.executions.length === 0) return '';
  const items = s.executions.map(
    (e) =>
      `<li><span class="state ${cls(e.state)}">${esc(e.state)}</span> ${esc(e.request)} <span class="muted">${esc(e.finishedAt)} · ${Object.entries(
        e.counts,
      )
        .map(([k, v]) => `${esc(k)} ${num(v)}`)
        .join(', ')}</span></li>`,
  );
  return `<section><h2>Recent executions</h2><ul>${items.join('')}</ul></section>`;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function cls(state: string): string {
  return state.replace(/[^a-z-]/g, '');
}

function num(n: number): string {
  return n.toLocaleString('en-US');
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;background:#f6f7f9}
header,main,footer{max-width:60rem;margin:0 auto;padding:0 1rem}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.5rem 1rem}
h1{font-size:1.3rem;margin:.8rem 0}
h2{font-size:1.1rem;margin:1.2rem 0 .4rem}
h3{font-size:1rem;margin:.8rem 0 .3rem}
ul,ol{padding-left:1.2rem;margin:.3rem 0}
li{margin:.25rem 0;overflow-wrap:anywhere}
.card{background:#fff;border:1px solid #d6dae0;border-radius:6px;padding:.7rem}
progress{width:100%;height:1rem}
.muted{color:#5c6670;font-size:.9em}
.state{display:inline-block;padding:0 .4rem;border-radius:4px;background:#e6e9ed;font-size:.85em}
.ok,.executed,.previewed{background:#d8f0dd}
.failed,.invalid,.refused{background:#f8d7d7}
.executing,.running,.partial{background:#fdf0c8}
.errors{color:#8b1a1a}
code{font-size:.85em}
a{color:#0b57c4}
`;

const SCRIPT = `
(function () {
  var main = document.getElementById('status');
  var updated = document.getElementById('updated');
  function refresh() {
    fetch('/status/fragment', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (html) { main.innerHTML = html; updated.textContent = new Date().toISOString(); })
      .catch(function () { updated.textContent = 'daemon not reachable'; })
      .finally(function () { setTimeout(refresh, 2000); });
  }
  setTimeout(refresh, 2000);
})();
`;
