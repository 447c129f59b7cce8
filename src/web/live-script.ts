/**
 * The site's only script, served as /static/live.js (a file, not inline, so the CSP can
 * forbid inline script): on a running build's page it appends the log as it grows, from the
 * offset the page was rendered at, turns the status when the build ends and then shows the
 * finished page. EventSource
 * reconnects by itself, resuming from the last offset it saw (Last-Event-ID).
 */
export const LIVE_SCRIPT = `(function () {
  var log = document.getElementById('log');
  if (!log || log.getAttribute('data-live') !== 'yes' || !window.EventSource) return;
  var status = document.getElementById('status');
  var source = new EventSource(log.getAttribute('data-events') + '?from=' + log.getAttribute('data-from'));
  source.addEventListener('log', function (e) {
    var follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.appendChild(document.createTextNode(JSON.parse(e.data)));
    if (follow) log.scrollTop = log.scrollHeight;
  });
  source.addEventListener('end', function (e) {
    var end = JSON.parse(e.data);
    status.textContent = end.status;
    status.className = 'status ' + end.status;
    log.setAttribute('data-live', 'no');
    source.close();
    // The finished page has what a running one lacks: stages, outputs, provenance.
    setTimeout(function () { location.reload(); }, 1000);
  });
})();
`;
