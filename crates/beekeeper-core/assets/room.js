// The room page: shows the place in line, the estimated wait and a countdown,
// polls ../polling on the adaptive schedule (paused while the tab is hidden)
// and goes to the destination once admitted.
"use strict";
(function () {
  var S = BeekeeperSchedule;
  document.documentElement.className = "js";
  var params = new URLSearchParams(location.search);
  var position = parseInt(params.get("p"), 10);
  var waitSecs = parseInt(params.get("w"), 10);
  var startedAt = Date.now();
  // A returning visitor may come back without an estimate (the AWS producer
  // cannot look up a place in line): keep the one given on arrival.
  var KEY = "beekeeper-estimate";
  try {
    if (waitSecs >= 0) {
      localStorage.setItem(KEY, JSON.stringify({ p: position, w: waitSecs, at: startedAt }));
    } else {
      var saved = JSON.parse(localStorage.getItem(KEY) || "null");
      if (saved && saved.w >= 0) { position = saved.p; waitSecs = saved.w; startedAt = saved.at; }
    }
  } catch (e) { /* storage disabled: estimate from scratch */ }
  if (!(waitSecs >= 0)) waitSecs = 60;
  var nextPollAt = 0, timer = null, polling = false;

  function $(id) { return document.getElementById(id); }
  function elapsedSecs() { return Math.floor((Date.now() - startedAt) / 1000); }
  function humanize(secs) {
    if (secs < 60) return secs <= 5 ? "moments" : "under a minute";
    var m = Math.round(secs / 60);
    if (m < 60) return m + (m === 1 ? " minute" : " minutes");
    var h = Math.floor(m / 60), r = m % 60;
    return h + " h " + (r < 10 ? "0" : "") + r + " min";
  }
  function render() {
    var remaining = Math.max(waitSecs - elapsedSecs(), 0);
    if (position > 0) {
      var ahead = Math.max(Math.ceil(position * remaining / Math.max(waitSecs, 1)), 1);
      $("position").textContent = ahead.toLocaleString();
    } else {
      $("position").textContent = "—";
    }
    $("wait").textContent = remaining > 0 ? humanize(remaining) : "any moment now";
    var left = Math.max(Math.ceil((nextPollAt - Date.now()) / 1000), 0);
    $("countdown").textContent = document.hidden ? "paused" : (polling ? "checking…" : left + " s");
  }
  function schedule() {
    clearTimeout(timer);
    if (document.hidden) { render(); return; }
    var ms = S.jitteredMs(S.pollIntervalSecs(waitSecs, elapsedSecs()), Math.random());
    nextPollAt = Date.now() + ms;
    timer = setTimeout(poll, ms);
    render();
  }
  function poll() {
    polling = true;
    render();
    fetch("../polling", { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { allow: false }; })
      .then(function (answer) {
        polling = false;
        if (answer.allow && answer.origin) {
          $("status").textContent = "It is your turn! Taking you there…";
          location.replace(answer.origin);
          return;
        }
        $("status").textContent = "";
        schedule();
      })
      .catch(function () {
        polling = false;
        $("status").textContent = "Connection trouble; trying again shortly. You keep your place.";
        schedule();
      });
  }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { clearTimeout(timer); render(); } else { poll(); }
  });
  setInterval(render, 1000);
  schedule();
})();
