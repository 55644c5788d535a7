// Outlay live hints. Pushes over the websocket are lossy hints ("something changed"): the page
// always re-reads the truth over HTTP, and polls while anything is processing, so a lost push
// (or a blocked websocket) costs seconds, never correctness.
(function () {
  "use strict";

  var body = document.body;
  var csrf = body.getAttribute("data-csrf");
  var socket = null;
  var retry = 500;

  // Re-read the page's live parts. A hint that arrives while the status box is being read (or a
  // decision is being posted) is kept and served right after: the box is replaced by each answer,
  // and a request queued on the old box would be lost with it.
  var reading = null;
  var readAgain = false;
  function refresh() {
    if (reading && Date.now() - reading < 10000) { readAgain = true; return; }
    if (window.htmx) { window.htmx.trigger(body, "live-refresh"); }
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.closest && elt.closest("#expense-status") && event.detail.xhr) {
      event.detail.xhr.outlayStatus = true;
      reading = Date.now();
    }
  });
  // afterRequest names the swapped-in element, not the one that asked: match the request itself.
  document.addEventListener("htmx:afterRequest", function (event) {
    if (!(event.detail && event.detail.xhr && event.detail.xhr.outlayStatus)) { return; }
    reading = null;
    if (readAgain) {
      readAgain = false;
      window.setTimeout(refresh, 20);
    }
  });

  function setBadge(count) {
    var badge = document.getElementById("unread-badge");
    if (!badge) { return; }
    count = Math.max(0, count);
    badge.setAttribute("data-count", String(count));
    badge.firstChild.nodeValue = String(count);
    badge.classList.toggle("empty", count === 0);
  }

  function badgeCount() {
    var badge = document.getElementById("unread-badge");
    return badge ? parseInt(badge.getAttribute("data-count") || "0", 10) : 0;
  }

  // Ask the server for the pushes of the expense on this page (it checks we may see it).
  var subscribed = {};
  function subscribeToPage() {
    var status = document.getElementById("expense-status");
    if (!socket || socket.readyState !== 1 || !status) { return; }
    var id = status.getAttribute("data-expense");
    if (subscribed[id]) { return; }
    subscribed[id] = true;
    socket.send(JSON.stringify({ subscribe: "expense", id: id }));
  }

  function connect() {
    var path = body.getAttribute("data-live-url");
    if (!path || !("WebSocket" in window)) { return; }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    try {
      socket = new WebSocket(scheme + window.location.host + path);
    } catch (e) { return; }
    socket.onopen = function () { retry = 500; subscribed = {}; subscribeToPage(); };
    socket.onmessage = function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      if (data.type === "delivery") { refresh(); }
      if (data.type === "notifications" && typeof data.unread === "number") { setBadge(data.unread); }
    };
    socket.onclose = function () {
      socket = null;
      retry = Math.min(retry * 2, 15000);
      window.setTimeout(connect, retry);
    };
  }

  function showError(text) {
    var box = document.getElementById("live-error");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = false;
    box.setAttribute("tabindex", "-1");
    box.focus();
  }

  // High stakes (approve, reject): show "processing" the moment the button is pressed; the
  // server's answer (the status box, or a refusal beside it) replaces this guess.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.target.closest && event.target.closest("form[data-optimistic='processing']");
    if (!form) { return; }
    var status = document.getElementById("expense-status");
    if (!status) { return; }
    var error = document.getElementById("decision-error");
    if (error) { error.textContent = ""; }
    var state = status.querySelector(".state");
    if (state) {
      state.className = "state processing";
      state.setAttribute("data-state", "processing");
      state.textContent = "Processing…";
    }
    status.classList.add("is-processing");
    status.setAttribute("aria-busy", "true");
    Array.prototype.forEach.call(status.querySelectorAll("button"), function (b) { b.disabled = true; });
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && (target.id === "expense-status" || target.id === "expense-decision")) {
      subscribeToPage();
      body.dispatchEvent(new CustomEvent("status-swapped"));
    }
    // After a decision (not a background poll) focus goes to its result: the refusal if there
    // is one, else the new state, so keyboard and screen-reader users land on the answer.
    if (target && target.id === "expense-decision") {
      focusFirst(["#decision-error .flash", "#decision-result"]);
    }
  });

  function focusFirst(selectors) {
    for (var i = 0; i < selectors.length; i++) {
      var element = document.querySelector(selectors[i]);
      if (element) {
        if (!element.hasAttribute("tabindex")) { element.setAttribute("tabindex", "-1"); }
        element.focus();
        return element;
      }
    }
    return null;
  }

  // A page that answers a form post (an error summary, a warning to answer, a message after a
  // redirect) puts focus on it, not on <body>.
  focusFirst(["[data-focus]", "main .flash.error:not([hidden])", "main .flash:not([hidden])"]);

  // A refused or failed command (5xx, network): say so, then re-read the truth, which also
  // undoes an optimistic "processing" if nothing happened. A failed background read (a poll)
  // is simply tried again at the next tick.
  function requestFailed(event) {
    var config = event.detail && event.detail.requestConfig;
    if (config && String(config.verb).toLowerCase() === "get") { return; }
    showError("The server refused the request or could not be reached. The page shows what is true now.");
    refresh();
  }
  document.addEventListener("htmx:responseError", requestFailed);
  document.addEventListener("htmx:sendError", requestFailed);

  // Low stakes (mark a notification read): optimistic, rolled back with a message if refused.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var id = form.getAttribute && form.getAttribute("data-mark-read");
    if (!id || !window.fetch) { return; }
    event.preventDefault();
    var item = document.getElementById("n-" + id);
    var before = badgeCount();
    setBadge(before - 1);
    if (item) { item.classList.remove("unread"); item.classList.add("read"); }
    form.hidden = true;
    window.fetch(form.action, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Accept": "application/json" }
    }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    }).then(function (data) {
      setBadge(data.unread);
    }).catch(function () {
      setBadge(before);
      if (item) { item.classList.add("unread"); item.classList.remove("read"); }
      form.hidden = false;
      showError("Could not mark the notification read. It is unread again; try once more.");
    });
  });

  connect();
}());
