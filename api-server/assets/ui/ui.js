// Ironpool web UI: progressive enhancement only; every page works without
// it. Three jobs: bulk selection on the machines table, live updates of
// the machines a page shows over server-sent events (/MAAS/r/live), and
// redrawing a form whose fields depend on a select (the add machine form's
// power parameters) when that select changes.
(function () {
  "use strict";

  function selection() {
    var bulk = document.getElementById("bulk");
    if (!bulk) return;
    var all = bulk.querySelector(".select-all");
    var boxes = function () { return bulk.querySelectorAll('input[name="system_id"]'); };
    var count = bulk.querySelector(".selected-count");
    var update = function () {
      var n = 0;
      boxes().forEach(function (b) { if (b.checked) n++; });
      if (count) count.textContent = n ? n + " selected" : "";
    };
    if (all) all.addEventListener("change", function () {
      boxes().forEach(function (b) { b.checked = all.checked; });
      update();
    });
    bulk.addEventListener("change", update);
    update();
  }

  function setText(root, field, text) {
    root.querySelectorAll('[data-field="' + field + '"]').forEach(function (el) { el.textContent = text; });
  }

  function setClass(root, field, prefix, cls) {
    root.querySelectorAll('[data-field="' + field + '"]').forEach(function (el) {
      el.className.split(" ").forEach(function (c) { if (c.indexOf(prefix) === 0) el.classList.remove(c); });
      el.classList.add(cls);
    });
  }

  function onNode(d) {
    document.querySelectorAll('[data-sid="' + d.system_id + '"]').forEach(function (root) {
      var before = (root.querySelector('[data-field="status"]') || {}).textContent;
      setText(root, "status", d.status);
      setText(root, "status-text", d.status);
      setClass(root, "status", "st-", d.status_class);
      setText(root, "power", d.power_state);
      setClass(root, "power", "pw-", d.power_class);
      setText(root, "status-message", d.status_message);
      if (before !== undefined && before !== d.status) {
        root.classList.remove("flash"); void root.offsetWidth; root.classList.add("flash");
      }
    });
  }

  function onEvent(e) {
    var body = document.querySelector('[data-events-for="' + e.node + '"]');
    if (!body) return;
    var tr = document.createElement("tr");
    [e.created, e.level, e.type + (e.description ? " — " + e.description : "")].forEach(function (t) {
      var td = document.createElement("td"); td.textContent = t; tr.appendChild(td);
    });
    body.insertBefore(tr, body.firstChild);
  }

  function live() {
    var ids = document.body.getAttribute("data-live") || "";
    var form = document.getElementById("bulk");
    if (form && form.getAttribute("data-live-ids")) ids = form.getAttribute("data-live-ids");
    if (!ids || !window.EventSource) return;
    var src = new EventSource("/MAAS/r/live?ids=" + encodeURIComponent(ids));
    src.addEventListener("node", function (m) { onNode(JSON.parse(m.data)); });
    src.addEventListener("event", function (m) { onEvent(JSON.parse(m.data)); });
    src.addEventListener("reload", function () { src.close(); location.reload(); });
    document.body.setAttribute("data-live-connected", "1");
  }

  // A select marked data-redraw asks the server for the form again (with
  // what was typed) when it changes; the server only redraws, it never
  // saves on such a request. Without this the form's save does it.
  function redraw() {
    document.querySelectorAll("select[data-redraw]").forEach(function (sel) {
      sel.addEventListener("change", function () {
        var form = sel.form;
        if (!form) return;
        var marker = document.createElement("input");
        marker.type = "hidden"; marker.name = "redraw"; marker.value = "1";
        form.appendChild(marker);
        form.submit();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { selection(); live(); redraw(); });
})();
