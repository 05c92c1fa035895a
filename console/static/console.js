// The console's only script, and only for live data: pages work without it.
// - A job page with [data-events] follows the job's server-sent events: the status and each
//   generated field's text grow in place; when the job ends the page reloads, so the server
//   renders the finished job (provenance, PDF, downloads). A cancel asked elsewhere turns the
//   Cancel button into "cancelling…"; `cancelled` ends the stream like any final status.
// - A list with [data-refresh] re-reads its own URL every few seconds and swaps the table body.
"use strict";

(function () {
  function followJob(head) {
    var source = new EventSource(head.getAttribute("data-events"));
    var status = document.querySelector("[data-job-status]");
    function setText(selector, value) {
      var el = document.querySelector(selector);
      if (el && value) el.textContent = value;
    }
    source.addEventListener("job", function (event) {
      var job = JSON.parse(event.data);
      status.textContent = job.status;
      status.className = "status status-" + job.status;
      setText("[data-job-attempts]", job.attempts + "/" + job.max_attempts);
      setText("[data-job-started]", job.started_at ? job.started_at.slice(0, 16).replace("T", " ") + " UTC" : "");
      var cancel = document.querySelector("[data-job-cancel]");
      if (cancel && job.cancel_requested_at) {
        cancel.outerHTML = '<span class="muted" data-job-cancelling>cancelling…</span>';
      }
    });
    source.addEventListener("field", function (event) {
      var field = JSON.parse(event.data);
      var card = document.querySelector('[data-field="' + CSS.escape(field.name) + '"]');
      if (!card) return;
      card.querySelector("[data-field-text]").textContent = field.text;
      card.classList.toggle("done", field.done);
      card.classList.toggle("writing", !field.done && field.tokens > 0);
      var meta = card.querySelector("[data-field-meta]");
      meta.textContent = field.done
        ? field.completion_tokens + " tokens · " + Number(field.seconds).toFixed(2) + " s"
        : field.tokens + " tokens so far";
    });
    source.addEventListener("end", function () {
      source.close();
      window.location.reload();
    });
  }

  function refreshList(wrap) {
    var seconds = Number(wrap.getAttribute("data-refresh")) || 5;
    var body = wrap.querySelector("[data-refresh-body]");
    function tick() {
      var busy = document.activeElement && document.activeElement.closest("form");
      if (document.visibilityState !== "visible" || busy) return;
      fetch(window.location.href, { credentials: "same-origin", redirect: "error" })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.text();
        })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var next = fresh.querySelector("[data-refresh-body]");
          if (next && next.innerHTML !== body.innerHTML) body.innerHTML = next.innerHTML;
        })
        .catch(function () { window.clearInterval(timer); });
    }
    var timer = window.setInterval(tick, seconds * 1000);
  }

  var head = document.querySelector("[data-events]");
  if (head) followJob(head);
  document.querySelectorAll("[data-refresh]").forEach(refreshList);
})();
