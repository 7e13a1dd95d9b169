// The "Burn on a desk reader" page: asks the API every two seconds whether the record left
// `captured`, and says so. Without script the page still shows the command; reload the record.
(function () {
  "use strict";
  var status = document.getElementById("burn-status");
  if (!status) { return; }
  var id = status.getAttribute("data-record");
  var timer = null;
  function check() {
    fetch("/api/v1/records/" + encodeURIComponent(id), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (record) {
        if (!record || record.state === "captured") { return; }
        status.setAttribute("data-state", record.state);
        var token = record.token || {};
        status.textContent = record.state === "burned"
          ? "Burned: token " + (token.serial || "?") + (token.model ? " (" + token.model + ")" : "") + ". The record is now burned."
          : "The record is now " + record.state + ".";
        if (timer) { window.clearInterval(timer); }
      })
      .catch(function () { /* the next tick tries again */ });
  }
  timer = window.setInterval(check, 2000);
})();
