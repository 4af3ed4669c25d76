// The polling schedule of the room page. It mirrors beekeeper-core's
// `wait` module (a test runs this file under node and compares the two).
"use strict";
var BeekeeperSchedule = (function () {
  var POLL_MIN_SECS = 3, POLL_MAX_SECS = 300, POLL_OVERDUE_MAX_SECS = 60;
  function clamp(x, lo, hi) { return Math.min(Math.max(x, lo), hi); }
  // Seconds until the next poll, elapsedSecs after an estimate of waitSecs.
  function pollIntervalSecs(waitSecs, elapsedSecs) {
    var remaining = waitSecs - elapsedSecs;
    if (remaining > 0) return clamp(Math.floor(remaining * 2 / 3), POLL_MIN_SECS, POLL_MAX_SECS);
    return clamp(Math.floor((elapsedSecs - waitSecs) / 2), POLL_MIN_SECS, POLL_OVERDUE_MAX_SECS);
  }
  // unit in [0, 1) spreads the interval over +-20% of itself, in milliseconds.
  function jitteredMs(intervalSecs, unit) {
    unit = clamp(unit, 0, 1);
    return Math.round(intervalSecs * 1000 * (0.8 + 0.4 * unit));
  }
  return { pollIntervalSecs: pollIntervalSecs, jitteredMs: jitteredMs };
})();
if (typeof module !== "undefined") module.exports = BeekeeperSchedule;
