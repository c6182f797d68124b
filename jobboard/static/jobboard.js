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

  // The page's own words, in its language (<html data-i18n>, from web/i18n.py).
  function json(attr) {
    try { return JSON.parse(root.getAttribute(attr) || "null"); } catch (e) { return null; }
  }
  var WORDS = json("data-i18n") || {};
  function jbT(word) { return WORDS[word] || word; }

  function label() {
    var t = root.getAttribute("data-theme");
    document.querySelectorAll("[data-theme-label]").forEach(function (el) {
      el.textContent = t === "auto" ? jbT("Auto") : (t === "dark" ? jbT("Dark") : jbT("Light"));
    });
    document.querySelectorAll("[data-toggle-poll]").forEach(function (el) {
      var on = pollingOn();
      el.setAttribute("aria-pressed", on ? "true" : "false");
      el.classList.toggle("off", !on);
      var l = el.querySelector(".lbl");
      if (l) l.textContent = on ? jbT("Live") : jbT("Paused");
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

  // --- time texts: <time data-rel> ("3m ago" / "in 2h") and <time data-since> ("5m"),
  // the same wording as the server's filters (web/filters.py reltime: Babel's narrow
  // relative times in the page's language, whose patterns <html data-reltime> carries),
  // kept current between polls (a poll that changed nothing answers 304 and swaps nothing).
  var REL = json("data-reltime") || {just_now: "just now", units: [[86400, {past_one: "{n}d ago", past_other: "{n}d ago", future_one: "in {n}d", future_other: "in {n}d", bare_one: "{n}d", bare_other: "{n}d"}]]};
  function relText(seconds, kind) {
    // Babel's rule: the largest unit with at least one of it, the count rounded
    var s = Math.abs(seconds), units = REL.units, i, secs = 1, forms = units[units.length - 1][1];
    for (i = 0; i < units.length; i++) {
      if (s / units[i][0] >= 1) { secs = units[i][0]; forms = units[i][1]; break; }
    }
    if (i === units.length) secs = units[units.length - 1][0];
    var n = Math.max(1, Math.round(s / secs));
    return forms[kind + (n === 1 ? "_one" : "_other")].replace("{n}", String(n));
  }
  function refreshTimes() {
    var now = Date.now() / 1000;
    document.querySelectorAll("time[data-rel],time[data-since]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime")) / 1000;
      if (isNaN(at)) return;
      if (el.hasAttribute("data-since")) { el.textContent = relText(Math.max(1, now - at), "bare"); return; }
      var d = at - now;
      el.textContent = Math.abs(d) < 1 ? REL.just_now : relText(d, d > 0 ? "future" : "past");
    });
  }

  // --- stacked cards on phones: each cell is labelled with its column's heading
  function labelCells(root) {
    (root || document).querySelectorAll(".tablewrap > table.grid").forEach(function (table) {
      var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
        return th.querySelector("input") ? "" : th.textContent.trim();
      });
      table.querySelectorAll("tbody > tr:not(.trace)").forEach(function (tr) {
        Array.prototype.forEach.call(tr.children, function (td, i) {
          if (!td.hasAttribute("data-label")) td.setAttribute("data-label", heads[i] || "");
        });
      });
    });
  }

  // --- a failed row expands in place to its trace (the fragment loads on first click)
  var openTraces = {};  // job id -> the loaded trace HTML, kept across live updates
  function traceRow(button) { return document.getElementById(button.getAttribute("data-expand")); }
  document.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest("button[data-expand]") : null;
    if (!b) return;
    var row = traceRow(b);
    if (!row) return;
    var open = b.getAttribute("aria-expanded") !== "true";
    b.setAttribute("aria-expanded", open ? "true" : "false");
    row.hidden = !open;
    var id = row.getAttribute("data-trace-for");
    if (!open) delete openTraces[id];
    else if (row.firstElementChild.innerHTML.trim()) openTraces[id] = row.firstElementChild.innerHTML;
  });
  document.addEventListener("htmx:afterSettle", function (e) {
    var box = e.detail.target && e.detail.target.closest && e.detail.target.closest("tr.trace");
    if (box) openTraces[box.getAttribute("data-trace-for")] = box.firstElementChild.innerHTML;
  });
  function restoreTraces() {
    document.querySelectorAll("tr.trace[data-trace-for]").forEach(function (row) {
      var html = openTraces[row.getAttribute("data-trace-for")];
      if (html === undefined) return;
      row.firstElementChild.innerHTML = html;
      row.hidden = false;
      var b = document.querySelector('button[data-expand="' + row.id + '"]');
      if (b) { b.setAttribute("aria-expanded", "true"); b.removeAttribute("hx-get"); }
    });
  }

  // --- copy a payload
  document.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest("button[data-copy]") : null;
    if (!b) return;
    var pre = b.closest("details").querySelector("pre");
    var done = function () { b.classList.add("copied"); b.textContent = jbT("Copied"); setTimeout(function () { b.classList.remove("copied"); b.textContent = jbT("Copy"); }, 1500); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(pre.textContent).then(done, function () {});
    else { var r = document.createRange(); r.selectNodeContents(pre); var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(r); try { document.execCommand("copy"); done(); } catch (err) { /* selected: copy by hand */ } }
  });

  // --- header menu on phones
  document.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest("[data-menu-toggle]") : null;
    if (!b) return;
    var menu = document.getElementById(b.getAttribute("aria-controls"));
    var open = b.getAttribute("aria-expanded") !== "true";
    b.setAttribute("aria-expanded", open ? "true" : "false");
    if (menu) menu.classList.toggle("open", open);
  });

  // --- queue switcher: pick a queue to go there; "q" focuses it from anywhere on the page
  document.addEventListener("change", function (e) {
    var sel = e.target;
    if (!sel.closest || !sel.closest("[data-queue-switch]")) return;
    var opt = sel.options[sel.selectedIndex];
    if (opt && opt.dataset.url) window.location.assign(opt.dataset.url);
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "q" || e.ctrlKey || e.metaKey || e.altKey) return;
    var a = document.activeElement;
    if (a && (a.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName))) return;
    var sel = document.querySelector("[data-queue-switch] select");
    if (sel) { e.preventDefault(); sel.focus(); if (sel.showPicker) { try { sel.showPicker(); } catch (err) { /* not allowed */ } } }
  });

  // --- live polls send back the last answer's ETag: nothing changed -> 304, no body; some
  // rows or counts changed -> just those, swapped in out of band (web/delta.py)
  var etags = {};
  document.addEventListener("htmx:configRequest", function (e) {
    var elt = e.detail.elt;
    if (!elt || !elt.hasAttribute || !elt.hasAttribute("data-poll")) return;
    var tag = etags[e.detail.path];
    if (tag) e.detail.headers["If-None-Match"] = tag;
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var xhr = e.detail.xhr, elt = e.detail.elt, target = e.detail.target;
    if (!xhr || !elt) return;
    var poll = elt.hasAttribute && elt.hasAttribute("data-poll");
    // Anything else that swaps <main> (an action, its HX-Location fetch) leaves the page
    // showing something no stored ETag names: forget them, keep only this answer's.
    if (!poll && !(target && target.id === "main")) return;
    if (!poll) etags = {};
    var tag = xhr.getResponseHeader("ETag");
    var path = e.detail.requestConfig && e.detail.requestConfig.path;
    if (tag && path && e.detail.successful) etags[path] = tag;
  });

  // --- toasts: at most two at a time, so they never pile up over the rows' buttons
  function trimToasts() {
    var all = document.querySelectorAll("#toasts .toast");
    for (var i = 0; i < all.length - 2; i++) all[i].remove();
  }

  function afterContent() { label(); selectionCount(); labelCells(); restoreTraces(); trimToasts(); refreshTimes(); }
  document.addEventListener("htmx:afterSwap", afterContent);
  document.addEventListener("htmx:oobAfterSwap", afterContent);  // a poll's changed rows
  document.addEventListener("DOMContentLoaded", function () {
    afterContent();
    setInterval(refreshTimes, 15000);
  });
})();
