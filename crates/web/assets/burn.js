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
        // The sentences come from the page, in its language (%token%, %state% filled in here).
        var label = (token.serial || "?") + (token.model ? " (" + token.model + ")" : "");
        var name = status.getAttribute("data-t-state-" + record.state) || record.state;
        status.textContent = record.state === "burned"
          ? (status.getAttribute("data-t-burned") || "Burned: token %token%.").replace("%token%", label)
          : (status.getAttribute("data-t-now") || "The record is now %state%.").replace("%state%", name);
        if (timer) { window.clearInterval(timer); }
      })
      .catch(function () { /* the next tick tries again */ });
  }
  timer = window.setInterval(check, 2000);
})();
