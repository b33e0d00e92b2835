// The coordination board: its sections come live over server-sent events (no reload).
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board || !window.EventSource) return;
  var status = document.getElementById("board-status");
  var source = new EventSource(board.getAttribute("data-stream"));
  function clock() {
    var d = new Date();
    return d.toLocaleTimeString("sv-SE", {hour: "2-digit", minute: "2-digit", second: "2-digit"});
  }
  source.addEventListener("board", function (e) {
    var data = JSON.parse(e.data);
    // Keep what the user is typing or has focused: replace only when nothing is focused
    // inside the board, else on the next event.
    var active = document.activeElement;
    if (active && board.contains(active) && active.tagName !== "BODY" &&
        (active.tagName === "INPUT" || active.tagName === "TEXTAREA")) return;
    board.innerHTML = data.html;
    // The sections come without a session's form token: this page's own goes into them.
    var token = board.getAttribute("data-csrf");
    board.querySelectorAll('input[name="csrf_token"]').forEach(function (i) { i.value = token; });
    board.setAttribute("data-updated", String(Date.now()));
    if (status) status.textContent = status.getAttribute("data-ok").replace("%(time)s", clock());
  });
  source.addEventListener("error", function () {
    if (status) status.textContent = status.getAttribute("data-lost");
  });
  source.addEventListener("open", function () {
    if (status) status.textContent = status.getAttribute("data-ok").replace("%(time)s", clock());
  });
})();
