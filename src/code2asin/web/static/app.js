// Code2ASIN UI: live progress on the job details page, and a confirmation before deleting.
// No framework, no build step. Without JavaScript every page still works (reload to refresh).
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  // a thumbnail that does not load becomes the neutral "no image" frame (never a broken icon)
  document.addEventListener("error", function (event) {
    var img = event.target;
    if (!img || img.tagName !== "IMG" || !img.classList.contains("thumb")) { return; }
    var frame = document.createElement("span");
    frame.className = "thumb thumb-none";
    frame.setAttribute("role", "img");
    frame.setAttribute("aria-label", img.getAttribute("data-missing") || img.alt || "");
    img.replaceWith(frame);
  }, true);

  var main = document.querySelector("main[data-live-url]");
  if (!main || main.getAttribute("data-active") !== "true") { return; }
  var url = main.getAttribute("data-live-url");
  var status = main.getAttribute("data-status");
  var timelineHtml = null;
  var marketsHtml = null;
  var meterHtml = null;
  var INTERVAL_MS = 1500;

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el && el.textContent !== text) { el.textContent = text; }
  }

  function refreshPanel() {
    // the status changed: fetch this page again and swap the tab's content (no reload, focus kept)
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("tab-panel");
        var panel = document.getElementById("tab-panel");
        if (fresh && panel && !panel.contains(document.activeElement)) { panel.innerHTML = fresh.innerHTML; }
      })
      .catch(function () { /* next status change tries again */ });
  }

  function apply(data) {
    var fill = document.getElementById("job-progress-fill");
    var bar = document.getElementById("job-progress-bar");
    if (fill) { fill.style.width = data.live_percent + "%"; }
    if (bar) { bar.setAttribute("aria-valuenow", String(data.live_percent)); }
    setText("progress-text", data.progress_text);
    var meter = document.getElementById("meter");
    if (meter && data.meter_html !== meterHtml) { meterHtml = data.meter_html; meter.innerHTML = data.meter_html; }
    Object.keys(data.tiles).forEach(function (key) { setText("tile-" + key, data.tiles[key]); });
    var markets = document.getElementById("marketplaces-card");
    if (markets && data.marketplaces_html && data.marketplaces_html !== marketsHtml) {
      // per-marketplace tiles and "available on": swapped whole unless focus is inside (no jump)
      marketsHtml = data.marketplaces_html;
      if (!markets.contains(document.activeElement)) { markets.innerHTML = data.marketplaces_html; }
    }
    if (data.timeline_html !== timelineHtml) {
      timelineHtml = data.timeline_html;
      document.getElementById("timeline").innerHTML = data.timeline_html;
    }
    if (data.status !== status) {
      status = data.status;
      main.setAttribute("data-status", status);
      var badge = document.querySelector("#job-status .badge");
      if (badge) { badge.className = "badge badge-" + status; badge.textContent = data.status_label; }
      document.getElementById("actions").innerHTML = data.actions_html;
      // "The job started." is past news once the status moved on: drop it, keep any error
      Array.prototype.forEach.call(document.querySelectorAll(".flash-success"), function (el) { el.remove(); });
      refreshPanel();
    }
    main.setAttribute("data-active", data.active ? "true" : "false");
    return data.active;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        var type = r.headers.get("content-type") || "";
        if (!r.ok || type.indexOf("application/json") === -1) { throw new Error("live: " + r.status); }
        return r.json();
      })
      .then(function (data) { if (apply(data)) { window.setTimeout(poll, INTERVAL_MS); } })
      .catch(function () { window.setTimeout(poll, INTERVAL_MS * 4); });
  }

  window.setTimeout(poll, INTERVAL_MS);
})();
