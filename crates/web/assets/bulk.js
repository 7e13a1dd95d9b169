// A batch's progress page: asks the API every three seconds for the batch and reloads the page
// when a record moved (burned, bound to a token, shipped…), so the page shows it with its local
// time. Without script the page has a refresh link.
(function () {
  "use strict";
  var progress = document.getElementById("bulk-progress");
  if (!progress) { return; }
  var id = progress.getAttribute("data-batch");
  function shown() {
    var rows = document.querySelectorAll("tr[data-record]");
    var seen = {};
    for (var i = 0; i < rows.length; i++) {
      seen[rows[i].getAttribute("data-record")] =
        rows[i].getAttribute("data-stage") + "/" + rows[i].getAttribute("data-serial");
    }
    return seen;
  }
  var seen = shown();
  var timer = null;
  function check() {
    fetch("/api/v1/bulk/" + encodeURIComponent(id), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (batch) {
        if (!batch || !batch.records) { return; }
        for (var i = 0; i < batch.records.length; i++) {
          var r = batch.records[i];
          var stage = r.state === "captured" && r.serial ? "bound" : r.state;
          if (seen[r.record_id] !== stage + "/" + (r.serial || "")) {
            if (timer) { window.clearInterval(timer); }
            window.location.reload();
            return;
          }
        }
      })
      .catch(function () { /* the next tick tries again */ });
  }
  if (progress.getAttribute("data-complete") !== "true") {
    timer = window.setInterval(check, 3000);
  }
})();
