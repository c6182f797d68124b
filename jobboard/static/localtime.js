/* jobboard: show times in the viewer's zone. Tells the server the browser's time zone
 * (cookie jb_tz) and remembers the local/UTC choice (cookie jb_time); the pages render
 * times server-side in that zone (jobboard/web/localtime.py). The language picker's choice
 * is remembered the same way (cookie jb_lang, jobboard/web/i18n.py). No inline code (CSP). */
(function () {
  "use strict";
  var MODE = "jb_time", ZONE = "jb_tz", LANG = "jb_lang", YEAR = 365 * 86400;

  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : null;
  }
  function setCookie(name, value) {
    document.cookie = name + "=" + encodeURIComponent(value) + "; path=/; max-age=" + YEAR + "; SameSite=Lax";
  }

  var zone = null;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || null; } catch (e) { /* old browser: UTC */ }
  var changed = zone && cookie(ZONE) !== zone;
  if (changed) setCookie(ZONE, zone);

  document.addEventListener("DOMContentLoaded", function () {
    // First visit (or a new zone): this page was rendered before the server knew the zone.
    var rendered = document.documentElement.getAttribute("data-zone");
    if (changed && cookie(MODE) !== "utc" && rendered !== zone && document.querySelector("main time")) {
      location.reload();
    }
  });

  document.addEventListener("click", function (e) {
    var t = e.target.closest ? e.target.closest("[data-toggle-time]") : null;
    if (!t) return;
    setCookie(MODE, cookie(MODE) === "utc" ? "local" : "utc");
    location.reload();
  });

  document.addEventListener("change", function (e) {
    var s = e.target;
    if (!s || !s.hasAttribute || !s.hasAttribute("data-lang-select")) return;
    setCookie(LANG, s.value);
    location.reload();
  });
})();
