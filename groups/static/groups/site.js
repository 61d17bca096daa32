// Small progressive enhancements; every page works without JavaScript.
(function () {
  "use strict";
  // Live footer preview on the group settings page (the server renders the real one).
  var footer = document.getElementById("id_footer_template");
  var out = document.getElementById("footer-preview");
  var url = out && out.getAttribute("data-preview-url");
  if (footer && out && url) {
    var timer = null;
    var csrf = document.querySelector("input[name=csrfmiddlewaretoken]");
    var refresh = function () {
      var body = new URLSearchParams({ footer_template: footer.value });
      fetch(url, { method: "POST", body: body, credentials: "same-origin",
                   headers: { "X-CSRFToken": csrf ? csrf.value : "" } })
        .then(function (r) { return r.text(); })
        .then(function (t) { out.textContent = t; })
        .catch(function () { out.textContent = "(preview unavailable)"; });
    };
    footer.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(refresh, 300); });
  }
  // Hashtag colours: set from data-color, since the Content-Security-Policy allows no
  // inline style attributes.
  document.querySelectorAll(".tag[data-color]").forEach(function (tag) {
    tag.style.borderColor = tag.getAttribute("data-color");
  });
  // A table or listing that scrolls sideways in its wrapper must be reachable by keyboard
  // (to scroll it with the arrow keys): it takes focus only while it does scroll.
  var scrollers = document.querySelectorAll(".table-wrap, pre");
  var markScrollers = function () {
    scrollers.forEach(function (el) {
      if (el.scrollWidth > el.clientWidth + 1) { el.setAttribute("tabindex", "0"); }
      else if (el.getAttribute("tabindex") === "0") { el.removeAttribute("tabindex"); }
    });
  };
  markScrollers();
  window.addEventListener("resize", markScrollers);
  // "Select all" checkbox for bulk actions on member lists.
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input[name=ids]").forEach(function (b) { b.checked = all.checked; });
    });
  }
})();
