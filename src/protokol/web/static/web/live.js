// Live pages: reload when the server reports a change, show who else is here.
// Pages work without this script; it only spares people the refresh button.
(function () {
  "use strict";
  var main = document.querySelector("[data-live-url]");
  if (!main || !window.EventSource) {
    return;
  }

  // Typed but unsent text must survive a change made by someone else, so
  // a page with edits shows a banner instead of reloading.
  var edited = false;
  document.addEventListener("input", function () {
    edited = true;
  });

  var source = new EventSource(main.getAttribute("data-live-url"));
  source.addEventListener("change", function () {
    if (edited) {
      document.getElementById("live-banner").hidden = false;
    } else {
      source.close();
      window.location.reload();
    }
  });

  source.addEventListener("presence", function (event) {
    var line = document.getElementById("presence");
    if (!line) {
      return;
    }
    var names = JSON.parse(event.data);
    line.textContent = names.length
      ? line.getAttribute("data-label") + " " + names.join(", ")
      : "";
    line.hidden = names.length === 0;
  });
})();
