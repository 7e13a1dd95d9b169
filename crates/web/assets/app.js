// Live countdowns for code windows. The page works without this script; it only keeps the
// "seconds left" figures current. Time comes from the server (data-server-now) plus the time
// elapsed in the browser, so a wrong browser clock does not matter.
(function () {
  "use strict";
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
