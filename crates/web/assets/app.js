// Live countdowns for code windows, and "Back" links. Pages work without this script; it keeps the
// "seconds left" figures current. Time comes from the server (data-server-now) plus the time
// elapsed in the browser, so a wrong browser clock does not matter.
(function () {
  "use strict";
  // "Back" links (error pages) go to the previous page; without script they lead home. The
  // strict CSP forbids javascript: URLs, so this cannot be an inline link.
  var backs = document.querySelectorAll("a[data-back]");
  for (var b = 0; b < backs.length; b++) {
    backs[b].addEventListener("click", function (event) {
      if (window.history.length > 1) { event.preventDefault(); window.history.back(); }
    });
  }
  // Time zone fields left empty propose the browser's zone (the user is usually where the
  // provisioner is; it can be changed before saving).
  var zones = document.querySelectorAll("input[data-propose-zone]");
  for (var z = 0; z < zones.length; z++) {
    try {
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (!zones[z].value && zone) { zones[z].value = zone; }
    } catch (e) { /* no Intl: the field stays empty (UTC) */ }
  }
  var body = document.body;
  var serverNow = Number(body.getAttribute("data-server-now"));
  if (!serverNow) { return; }
  var loadedAt = Date.now() / 1000;
  function tick() {
    var now = serverNow + (Date.now() / 1000 - loadedAt);
    var rows = document.querySelectorAll("[data-valid-from][data-valid-until]");
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var from = Number(row.getAttribute("data-valid-from"));
      var until = Number(row.getAttribute("data-valid-until"));
      var left = row.querySelector(".left");
      row.classList.toggle("current", now >= from && now < until);
      row.classList.toggle("expired", now >= until);
      if (left) {
        if (now >= until) { left.textContent = "expired"; }
        else if (now < from) { left.textContent = "valid in " + Math.ceil(from - now) + " s"; }
        else { left.textContent = Math.ceil(until - now) + " s left"; }
      }
    }
  }
  tick();
  setInterval(tick, 500);
})();
