// Seed capture in the browser: from a live screen share (getDisplayMedia), a pasted screenshot
// (Ctrl+V / Cmd+V) or a dropped image file. Each image goes to the same-origin frame endpoint,
// which decodes it with the server's QR decoder and answers what it found; a seed fills the form's
// secret field and submits it exactly as typing it would. Frames live only in memory here: no
// storage, no logging. Without this script the upload field works as before.
(function () {
  "use strict";
  var box = document.querySelector("[data-capture]");
  if (!box) { return; }
  var form = box.closest("form");
  var field = document.getElementById(box.getAttribute("data-field"));
  var submit = document.getElementById(box.getAttribute("data-submit"));
  var frameUrl = box.getAttribute("data-frame-url");
  var timeoutSecs = Number(box.getAttribute("data-timeout")) || 60;
  var status = box.querySelector("[data-capture-status]");
  var startButton = box.querySelector("[data-capture-start]");
  var frameButton = box.querySelector("[data-capture-frame]");
  var cancelButton = box.querySelector("[data-capture-cancel]");
  var preview = box.querySelector("[data-capture-preview]");
  var canvas = document.createElement("canvas");
  var stream = null;
  var timer = null;
  var deadline = 0;
  var inFlight = false;
  var done = false;

  box.hidden = false;
  if (!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia)) {
    startButton.hidden = true;
  }

  function say(text) { status.textContent = text; }
  // The sentences come from the page, in its language.
  function msg(name, fallback) { return box.getAttribute("data-t-" + name) || fallback; }

  function stop(message) {
    if (timer) { clearInterval(timer); timer = null; }
    if (stream) {
      stream.getTracks().forEach(function (t) { t.stop(); });
      stream = null;
    }
    preview.srcObject = null;
    preview.hidden = true;
    frameButton.hidden = true;
    cancelButton.hidden = true;
    startButton.disabled = false;
    box.setAttribute("data-capture-state", "stopped");
    if (message) { say(message); }
  }

  // Sends one image; resolves to the server's answer ({status, secret?, message?}).
  function send(blob) {
    return fetch(frameUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": blob.type || "application/octet-stream" },
      body: blob
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (body) {
        if (resp.status === 429) { return { status: "busy" }; }
        if (!resp.ok) { return { status: "error", message: body.message || ("HTTP " + resp.status) }; }
        return body;
      });
    });
  }

  // Acts on an answer: a seed fills the form and submits it; an explanation stops the capture.
  function handle(answer, fromStream) {
    if (done) { return; }
    if (answer.status === "found") {
      done = true;
      stop(msg("found", "Seed found. Reading it…"));
      field.value = answer.secret;
      answer.secret = "";
      var file = form.querySelector("input[type=file]");
      if (file) { file.value = ""; }
      // The server fills an empty user from the seed's account label, as for an upload, so the
      // browser's own check of required fields must not stop this submission.
      form.noValidate = true;
      if (form.requestSubmit) { form.requestSubmit(submit); } else { submit.click(); }
    } else if (answer.status === "not_seed" || answer.status === "error") {
      stop(answer.message);
    } else if (!fromStream) {
      say(answer.message || msg("no-qr", "No QR code in that image."));
    }
  }

  function grab() {
    var w = preview.videoWidth, h = preview.videoHeight;
    if (!w || !h) { return null; }
    canvas.width = w;
    canvas.height = h;
    canvas.getContext("2d").drawImage(preview, 0, 0, w, h);
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/png"); });
  }

  function sample(manual) {
    if (!stream || inFlight) { return; }
    if (!manual && Date.now() > deadline) {
      stop(msg("timeout", "No QR code found in %secs% s. Ask the user to show Microsoft's QR code " +
        "and to zoom the shared window so the code is large, then try again.").replace("%secs%", timeoutSecs));
      return;
    }
    var pending = grab();
    if (!pending) { return; }
    inFlight = true;
    pending.then(function (blob) { return blob ? send(blob) : { status: "none" }; })
      .then(function (answer) {
        inFlight = false;
        if (manual && answer.status === "none") {
          say(msg("still-looking", "No QR code in this frame; still looking…"));
          return;
        }
        handle(answer, true);
      }, function () {
        inFlight = false;
      });
  }

  startButton.addEventListener("click", function () {
    startButton.disabled = true;
    done = false;
    navigator.mediaDevices.getDisplayMedia({
      video: { width: { ideal: 3840 }, height: { ideal: 2160 } },
      audio: false
    }).then(function (s) {
      stream = s;
      box.setAttribute("data-capture-state", "live");
      s.getVideoTracks().forEach(function (t) {
        t.addEventListener("ended", function () { stop(msg("ended", "Screen sharing ended.")); });
      });
      preview.srcObject = s;
      preview.hidden = false;
      preview.play().catch(function () {});
      frameButton.hidden = false;
      cancelButton.hidden = false;
      deadline = Date.now() + timeoutSecs * 1000;
      say(msg("looking", "Looking for the QR code…"));
      timer = setInterval(function () { sample(false); }, 500);
    }, function (err) {
      stop(msg("not-started", "The screen share was not started (%error%).").replace("%error%", err.name));
    });
  });
  frameButton.addEventListener("click", function () { sample(true); });
  cancelButton.addEventListener("click", function () { stop(msg("cancelled", "Capture cancelled.")); });

  function fromImage(blob) {
    if (!blob || !/^image\//.test(blob.type)) { return false; }
    say(msg("reading", "Reading the image…"));
    send(blob).then(function (answer) { handle(answer, false); });
    return true;
  }

  document.addEventListener("paste", function (event) {
    var items = event.clipboardData ? event.clipboardData.items : [];
    for (var i = 0; i < items.length; i++) {
      if (items[i].kind === "file" && fromImage(items[i].getAsFile())) {
        event.preventDefault();
        return;
      }
    }
  });
  document.addEventListener("dragover", function (event) {
    if (event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") >= 0) {
      event.preventDefault();
    }
  });
  document.addEventListener("drop", function (event) {
    var files = event.dataTransfer ? event.dataTransfer.files : [];
    if (files.length && fromImage(files[0])) { event.preventDefault(); }
  });
})();
