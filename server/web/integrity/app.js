// The integrity reporting page: builds the report, computes the proof of work, shows the
// receipt code once, and reads and writes the follow-up thread. Keeps nothing: no cookie,
// no storage; all text is put into the page as text, never as HTML.
"use strict";
(function () {
  var config = null;

  function $(id) { return document.getElementById(id); }

  function say(id, text, isError) {
    var el = $(id);
    el.textContent = text;
    el.className = isError ? "error" : "";
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer"
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) throw new Error(j.message || ("error " + r.status));
        return j;
      });
    });
  }

  function readFile(file) {
    return new Promise(function (resolve, reject) {
      var fr = new FileReader();
      fr.onload = function () {
        var s = String(fr.result);
        resolve(s.slice(s.indexOf(",") + 1));
      };
      fr.onerror = function () { reject(new Error("cannot read " + file.name)); };
      fr.readAsDataURL(file);
    });
  }

  function randomSalt() {
    var b = new Uint8Array(8);
    window.crypto.getRandomValues(b);
    return window.TarmimPow.hex(b);
  }

  function stamp() {
    var minute = Math.floor(Date.now() / 60000);
    return window.TarmimPow.solve(config.pow_bits, minute, randomSalt(), 0);
  }

  function loadConfig() {
    return fetch("/integrity/api/config", { credentials: "omit", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (c) {
        config = c;
        var sel = $("category");
        c.categories.forEach(function (cat) {
          var o = document.createElement("option");
          o.value = cat.code;
          o.textContent = cat.name;
          sel.appendChild(o);
        });
        if (!c.enabled) {
          say("report-status", "Reports are not being taken on this server.", true);
          $("send").disabled = true;
        }
      });
  }

  function onReport(ev) {
    ev.preventDefault();
    var files = Array.prototype.slice.call($("files").files || []);
    if (files.length > config.max_attachments) {
      say("report-status", "At most " + config.max_attachments + " photos.", true);
      return;
    }
    $("send").disabled = true;
    say("report-status", "Preparing…");
    Promise.all(files.map(readFile)).then(function (datas) {
      say("report-status", "Securing the report (a few seconds)…");
      // Let the status paint before the proof of work occupies the page.
      return new Promise(function (r) { setTimeout(r, 30); }).then(function () {
        return post("/integrity/api/reports", {
          category: $("category").value,
          text: $("text").value,
          place: $("place").value || null,
          date: $("date").value || null,
          attachments: datas.map(function (d) { return { data: d }; }),
          pow: stamp()
        });
      });
    }).then(function (res) {
      $("report-form").hidden = true;
      $("receipt-code").textContent = res.receipt_code;
      $("receipt").hidden = false;
    }).catch(function (e) {
      say("report-status", e.message, true);
      $("send").disabled = false;
    });
  }

  function describe(m) {
    if (m.error) return m.error;
    var b = m.body || {};
    if (b.kind === "report") {
      var t = "Your report (" + b.category + "):\n" + b.text;
      if (b.place) t += "\nWhere: " + b.place;
      if (b.date) t += "\nWhen: " + b.date;
      if (m.attachments) t += "\n" + m.attachments + " photo(s)";
      return t;
    }
    if (b.kind === "status") return "Status changed to " + b.status.replace(/_/g, " ") + (b.note ? ":\n" + b.note : "");
    return b.text || "";
  }

  function showThread(t) {
    $("case-status").textContent = t.status.replace(/_/g, " ");
    var list = $("messages");
    while (list.firstChild) list.removeChild(list.firstChild);
    t.messages.forEach(function (m) {
      var li = document.createElement("li");
      var meta = document.createElement("div");
      meta.className = "meta";
      meta.textContent = (m.from === "investigator" ? "Investigators" : m.from === "reporter" ? "You" : "?") +
        ", " + new Date(m.at).toISOString().slice(0, 13).replace("T", " ") + ":00 UTC";
      var body = document.createElement("div");
      body.textContent = describe(m);
      li.appendChild(meta);
      li.appendChild(body);
      list.appendChild(li);
    });
    $("thread").hidden = false;
  }

  function onFollow(ev) {
    ev.preventDefault();
    say("follow-status", "Checking the code…");
    post("/integrity/api/case", { receipt_code: $("code").value }).then(function (t) {
      say("follow-status", "");
      showThread(t);
    }).catch(function (e) {
      $("thread").hidden = true;
      say("follow-status", e.message, true);
    });
  }

  function onReply(ev) {
    ev.preventDefault();
    say("reply-status", "Sending…");
    var code = $("code").value;
    post("/integrity/api/case/messages", { receipt_code: code, text: $("reply-text").value })
      .then(function () { return post("/integrity/api/case", { receipt_code: code }); })
      .then(function (t) {
        $("reply-text").value = "";
        say("reply-status", "Sent.");
        showThread(t);
      })
      .catch(function (e) { say("reply-status", e.message, true); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("report-form").addEventListener("submit", onReport);
    $("follow-form").addEventListener("submit", onFollow);
    $("reply-form").addEventListener("submit", onReply);
    loadConfig().catch(function () { say("report-status", "Cannot reach the server.", true); });
  });
})();
