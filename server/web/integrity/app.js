// The integrity reporting page: builds the report, computes the proof of work, shows the
// receipt code once, and reads and writes the follow-up thread. Keeps nothing: no cookie,
// no storage (the language switch is not remembered: <html data-i18n-no-store>); all
// text is put into the page as text, never as HTML. Texts are the shared catalogues'.
"use strict";
(function () {
  var config = null;
  var i18n = window.tarmimI18n;
  function tr(key, vars) { return i18n.t(key, vars); }
  // A status code in words: the catalogue's, else the code with spaces.
  function statusText(s) {
    var t = i18n.t("integrity.state." + s);
    return t.charAt(0) === "\u27e6" ? s.replace(/_/g, " ") : t;
  }
  function categoryText(cat) {
    var t = i18n.t("integrity.categoryName." + cat.code);
    return t.charAt(0) === "\u27e6" ? cat.name : t;
  }

  function $(id) { return document.getElementById(id); }

  function say(id, text, isError) {
    var el = $(id);
    el.textContent = text;
    el.className = isError ? "error" : "";
  }

  // `headers`: extra request headers (the report's proof of work travels in one, so the
  // server can refuse a report without work before reading its body).
  function post(path, body, headers) {
    var h = { "Content-Type": "application/json" };
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    return fetch(path, {
      method: "POST",
      headers: h,
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer"
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) {
          if (i18n.lang === "en" && j.message) throw new Error(j.message);
          var t = i18n.t("error." + (j.error || "unknown"), { status: r.status });
          throw new Error(t.charAt(0) === "\u27e6" ? tr("error.unknown", { status: r.status }) : t);
        }
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
      fr.onerror = function () { reject(new Error(tr("integrity.cannotRead", { name: file.name }))); };
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
        fillCategories();
        if (!c.enabled) {
          say("report-status", tr("integrity.disabled"), true);
          $("send").disabled = true;
        }
      });
  }

  function fillCategories() {
    var sel = $("category");
    var kept = sel.value;
    while (sel.firstChild) sel.removeChild(sel.firstChild);
    config.categories.forEach(function (cat) {
      var o = document.createElement("option");
      o.value = cat.code;
      o.textContent = categoryText(cat);
      sel.appendChild(o);
    });
    if (kept) sel.value = kept;
  }

  function onReport(ev) {
    ev.preventDefault();
    var files = Array.prototype.slice.call($("files").files || []);
    if (files.length > config.max_attachments) {
      say("report-status", tr("integrity.tooMany", { n: config.max_attachments }), true);
      return;
    }
    $("send").disabled = true;
    say("report-status", tr("integrity.preparing"));
    Promise.all(files.map(readFile)).then(function (datas) {
      say("report-status", tr("integrity.securing"));
      // Let the status paint before the proof of work occupies the page.
      return new Promise(function (r) { setTimeout(r, 30); }).then(function () {
        return post("/integrity/api/reports", {
          category: $("category").value,
          text: $("text").value,
          place: $("place").value || null,
          date: $("date").value || null,
          attachments: datas.map(function (d) { return { data: d }; })
        }, { "X-Integrity-Pow": stamp() });
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
      var cat = (config.categories || []).filter(function (c) { return c.code === b.category; })[0];
      var t = tr("integrity.yourReport", { category: cat ? categoryText(cat) : b.category }) + "\n" + b.text;
      if (b.place) t += "\n" + tr("integrity.msg.where", { place: b.place });
      if (b.date) t += "\n" + tr("integrity.msg.when", { date: b.date });
      if (m.attachments) t += "\n" + tr("integrity.msg.photos", { n: m.attachments });
      return t;
    }
    if (b.kind === "status") return tr("integrity.msg.status", { status: statusText(b.status) }) + (b.note ? ":\n" + b.note : "");
    return b.text || "";
  }

  var shown = null;
  function showThread(t) {
    shown = t;
    $("case-status").textContent = statusText(t.status);
    var list = $("messages");
    while (list.firstChild) list.removeChild(list.firstChild);
    t.messages.forEach(function (m) {
      var li = document.createElement("li");
      var meta = document.createElement("div");
      meta.className = "meta";
      // To the hour only, as before: a reporter's exact minute is not shown back.
      var hour = Math.floor(new Date(m.at).getTime() / 3600000) * 3600000;
      meta.textContent = tr(m.from === "investigator" ? "integrity.from.investigators" : m.from === "reporter" ? "integrity.from.you" : "integrity.from.unknown") +
        tr("list.sep") + i18n.date(hour, { dateStyle: "medium", timeStyle: "short" });
      var body = document.createElement("div");
      // The message itself is people's own text, kept as written.
      body.setAttribute("translate", "no");
      body.textContent = describe(m);
      li.appendChild(meta);
      li.appendChild(body);
      list.appendChild(li);
    });
    $("thread").hidden = false;
  }

  function onFollow(ev) {
    ev.preventDefault();
    say("follow-status", tr("integrity.checking"));
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
    say("reply-status", tr("integrity.sending"));
    var code = $("code").value;
    post("/integrity/api/case/messages", { receipt_code: code, text: $("reply-text").value })
      .then(function () { return post("/integrity/api/case", { receipt_code: code }); })
      .then(function (t) {
        $("reply-text").value = "";
        say("reply-status", tr("integrity.sent"));
        showThread(t);
      })
      .catch(function (e) { say("reply-status", e.message, true); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("report-form").addEventListener("submit", onReport);
    $("follow-form").addEventListener("submit", onFollow);
    $("reply-form").addEventListener("submit", onReply);
    i18n.switcher($("lang"));
    i18n.onChange(function () {
      if (config) fillCategories();
      if (shown) showThread(shown);
    });
    var go = function () {
      return loadConfig().catch(function () { say("report-status", tr("integrity.unreachable"), true); });
    };
    i18n.ready.then(go, go);
  });
})();
