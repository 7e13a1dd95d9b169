// Live countdowns for code windows, "Back" links and the browser's time zone. Pages work without this script; it keeps the
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
  // The browser's time zone, for the server to show times in (a staff member's own setting
  // on /account wins). Sent as a cookie on the next request; a page shown before that uses
  // the server's zone. Only IANA-shaped names are sent.
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && /^[A-Za-z0-9_+\/-]{1,64}$/.test(tz) && document.cookie.indexOf("tz=" + tz) < 0) {
      document.cookie = "tz=" + tz + "; path=/; max-age=31536000; SameSite=Strict";
    }
  } catch (e) { /* no Intl: the server's zone */ }
  var body = document.body;
  var serverNow = Number(body.getAttribute("data-server-now"));
  if (!serverNow) { return; }
  var loadedAt = Date.now() / 1000;
  // Screen readers hear the code once when it becomes current and once when 10 seconds are
  // left, never the countdown itself (the status region changes only at those moments).
  var status = document.getElementById("code-status");
  var announced = "";
  // The words come from the page (data-t-* on <body>), in its language.
  function text(name, fallback) { return body.getAttribute("data-t-" + name) || fallback; }
  function spoken(digits) { return digits.split("").join(" "); }
  function announce(row, now) {
    if (!status || !row) { return; }
    var cell = row.querySelector("[data-code]");
    var code = cell ? cell.getAttribute("data-code") : "";
    var until = Number(row.getAttribute("data-valid-until"));
    var late = until - now <= 10;
    var key = code + (late ? ":late" : "");
    if (key === announced) { return; }
    announced = key;
    var left = Math.ceil(until - now);
    var sentence = text(late ? "spoken-late" : "spoken",
      "%label% code %code%, %until%, %n% seconds left" + (late ? "; read the next code instead." : "."));
    status.textContent = sentence.replace("%label%", row.getAttribute("data-label"))
      .replace("%code%", spoken(code)).replace("%until%", row.getAttribute("data-until"))
      .replace("%n%", left);
  }
  function tick() {
    var now = serverNow + (Date.now() / 1000 - loadedAt);
    var rows = document.querySelectorAll("[data-valid-from][data-valid-until]");
    var current = null;
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      if (now >= Number(row.getAttribute("data-valid-from")) &&
          now < Number(row.getAttribute("data-valid-until")) && !current) { current = row; }
      var from = Number(row.getAttribute("data-valid-from"));
      var until = Number(row.getAttribute("data-valid-until"));
      var left = row.querySelector(".left");
      row.classList.toggle("current", now >= from && now < until);
      row.classList.toggle("expired", now >= until);
      if (left) {
        if (now >= until) { left.textContent = text("expired", "expired"); }
        else if (now < from) { left.textContent = text("valid-in", "valid in %n% s").replace("%n%", Math.ceil(from - now)); }
        else { left.textContent = text("left", "%n% s left").replace("%n%", Math.ceil(until - now)); }
      }
    }
    announce(current, now);
  }
  tick();
  setInterval(tick, 500);
})();
