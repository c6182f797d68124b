/* jobboard dashboard behaviour: theme, live-update switch, confirmations, selection.
 * Loaded in <head> (not deferred) so the saved theme applies before first paint.
 * No inline handlers anywhere: the Content-Security-Policy allows only 'self' scripts. */
(function () {
  "use strict";
  var root = document.documentElement;
  var THEME_KEY = "jobboard.theme";
  var POLL_KEY = "jobboard.poll";
  var THEMES = ["auto", "light", "dark"];

  function store(key, value) {
    try { if (value == null) localStorage.removeItem(key); else localStorage.setItem(key, value); } catch (e) { /* private mode */ }
  }
  function read(key) {
    try { return localStorage.getItem(key); } catch (e) { return null; }
  }

  var theme = read(THEME_KEY);
  root.setAttribute("data-theme", THEMES.indexOf(theme) >= 0 ? theme : "auto");

  function pollingOn() { return read(POLL_KEY) !== "off"; }

  function label() {
    var t = root.getAttribute("data-theme");
    document.querySelectorAll("[data-theme-label]").forEach(function (el) {
      el.textContent = t === "auto" ? "Auto" : (t === "dark" ? "Dark" : "Light");
    });
    document.querySelectorAll("[data-toggle-poll]").forEach(function (el) {
      var on = pollingOn();
      el.setAttribute("aria-pressed", on ? "true" : "false");
      el.classList.toggle("off", !on);
      var l = el.querySelector(".lbl");
      if (l) l.textContent = on ? "Live" : "Paused";
    });
  }

  function selectionCount(scope) {
    var n = (scope || document).querySelectorAll("input.sel:checked").length;
    document.querySelectorAll("[data-selcount]").forEach(function (el) { el.textContent = String(n); });
    document.querySelectorAll("[data-needs-selection]").forEach(function (el) {
      el.disabled = n === 0;
      // the confirmation names the count, so nobody removes 100 jobs thinking it was 3
      if (el.dataset.confirmN) el.dataset.confirm = el.dataset.confirmN.replace("{n}", String(n));
    });
    return n;
  }

  function refreshNow() {
    var m = document.querySelector("[data-poll]");
    if (m && window.htmx) window.htmx.trigger(m, "jb-refresh");
  }

  document.addEventListener("click", function (e) {
    var t = e.target.closest ? e.target.closest("[data-toggle-theme],[data-toggle-poll],[data-dismiss]") : null;
    if (!t) return;
    if (t.hasAttribute("data-toggle-theme")) {
      var next = THEMES[(THEMES.indexOf(root.getAttribute("data-theme")) + 1) % THEMES.length];
      root.setAttribute("data-theme", next);
      store(THEME_KEY, next === "auto" ? null : next);
    } else if (t.hasAttribute("data-toggle-poll")) {
      store(POLL_KEY, pollingOn() ? "off" : null);
      if (pollingOn()) refreshNow();
    } else if (t.hasAttribute("data-dismiss")) {
      var toast = t.closest(".toast");
      if (toast) toast.remove();
    }
    label();
  });

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.matches && t.matches("[data-select-all]")) {
      var form = t.closest("form") || document;
      form.querySelectorAll("input.sel").forEach(function (box) { box.checked = t.checked; });
    }
    if (t.matches && (t.matches("input.sel") || t.matches("[data-select-all]"))) selectionCount();
  });

  // Plain (no htmx) form submits still ask before destructive actions.
  document.addEventListener("submit", function (e) {
    var s = e.submitter;
    if (e.target.hasAttribute("hx-post")) return; // htmx:confirm below handles those
    if (s && s.dataset.confirm && !window.confirm(s.dataset.confirm)) e.preventDefault();
  });

  document.addEventListener("htmx:confirm", function (e) {
    var trig = e.detail.triggeringEvent;
    var s = trig && trig.submitter;
    if (s && s.dataset && s.dataset.confirm) {
      e.preventDefault();
      if (window.confirm(s.dataset.confirm)) e.detail.issueRequest(true);
    }
  });

  // Live polls: skip while the tab is hidden, while live updates are switched off, and
  // while the person is mid-selection or typing, so an update never eats their work.
  document.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail.elt;
    if (!elt || !elt.hasAttribute || !elt.hasAttribute("data-poll")) return;
    var active = document.activeElement;
    var typing = active && elt.contains(active) && active.matches("input[type=search],input[type=text],select,textarea");
    if (document.visibilityState !== "visible" || !pollingOn() || typing ||
        elt.querySelector("input.sel:checked")) {
      e.preventDefault();
    }
  });

  // Coming back to a hidden tab: refresh at once rather than wait for the next tick.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && pollingOn()) refreshNow();
  });

  document.addEventListener("htmx:afterSwap", function () { label(); selectionCount(); });
  document.addEventListener("DOMContentLoaded", function () { label(); selectionCount(); });
})();
