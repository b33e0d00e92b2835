// The patient's page: who comes today, kept up to date without a reload.
(function () {
  "use strict";
  var box = document.getElementById("today");
  if (!box || !window.EventSource) return;
  var source = new EventSource(box.getAttribute("data-stream"));
  source.addEventListener("today", function (e) {
    box.innerHTML = JSON.parse(e.data).html;
  });
  // The session ended (logged out, the code revoked, the permission taken back): stop.
  source.addEventListener("ended", function () { source.close(); });
})();
