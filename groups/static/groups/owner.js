// Owners' pages: the live group-name check and the notice preview. Every page works
// without JavaScript; the server checks everything again on Save.
(function () {
  "use strict";
  var csrf = function () {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  };
  var debounce = function (fn, ms) {
    var timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  };

  // Create a group: is the name valid and free? (GET /groups/new/check-name/?name=)
  var name = document.getElementById("id_name");
  var out = document.getElementById("name-check");
  var checkUrl = out && out.getAttribute("data-check-url");
  if (name && out && checkUrl) {
    // Added to the help text and any error Django tied to the field, never instead of them.
    var described = (name.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    name.setAttribute("aria-describedby", described.concat(["name-check"]).join(" "));
    var check = function () {
      if (!name.value.trim()) { out.textContent = ""; return; }
      fetch(checkUrl + "?name=" + encodeURIComponent(name.value), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (data.name !== name.value.trim().toLowerCase()) { return; }  // a stale answer
          out.textContent = data.message;
          out.className = data.ok ? "help ok-text" : "error";
        })
        .catch(function () { out.textContent = ""; });
    };
    name.addEventListener("input", debounce(check, 250));
  }

  // Notice editor: render the unsaved wording with a sample member.
  var form = document.getElementById("notice-form");
  var previewUrl = form && form.getAttribute("data-preview-url");
  if (form && previewUrl) {
    var subject = document.getElementById("id_subject");
    var body = document.getElementById("id_body");
    var shownSubject = document.getElementById("notice-preview-subject");
    var shownBody = document.getElementById("notice-preview-body");
    var problem = document.getElementById("notice-problem");
    var asked = 0;
    var refresh = function () {
      var mine = ++asked;
      var data = new URLSearchParams({ subject: subject.value, body: body.value });
      fetch(previewUrl, { method: "POST", body: data, credentials: "same-origin",
                          headers: { "X-CSRFToken": csrf() } })
        .then(function (r) { return r.json(); })
        .then(function (res) {
          if (mine !== asked) { return; }  // a later edit's answer is on its way
          if (res.error) {
            problem.textContent = res.error;
            problem.hidden = false;
            return;
          }
          problem.hidden = true;
          shownSubject.textContent = res.subject;
          shownBody.textContent = res.body;
        })
        .catch(function () { problem.textContent = "(preview unavailable)"; problem.hidden = false; });
    };
    subject.addEventListener("input", debounce(refresh, 300));
    body.addEventListener("input", debounce(refresh, 300));
  }
})();
