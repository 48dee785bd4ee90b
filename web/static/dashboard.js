/* Callbox dashboard: re-renders lines, staff, queues and lights from the engine state streamed by
   /events (server-sent events), ticks the "for 1 min 05 s" counters, and sends the staff buttons
   with fetch (CSRF token in the X-CSRFToken header). Builds DOM nodes, never HTML strings. */
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root) { return; }
  var labels = JSON.parse(root.dataset.labels);
  var viewer = JSON.parse(root.dataset.viewer);
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var banner = document.getElementById("engine-status");
  var actionError = document.getElementById("action-error");
  // server clock minus browser clock, so "since" durations use the appliance's time
  var clockOffset = parseFloat(root.dataset.now) - Date.now() / 1000;

  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] === null || attrs[k] === undefined || attrs[k] === false) { return; }
      if (k === "text") { el.textContent = attrs[k]; } else { el.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) { el.appendChild(typeof c === "string" ? document.createTextNode(c) : c); }
    });
    return el;
  }

  function duration(seconds) {
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) { return s + " s"; }
    if (s < 3600) { return Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s"; }
    return Math.floor(s / 3600) + " h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + " min";
  }

  function nowServer() { return Date.now() / 1000 + clockOffset; }

  function tick() {
    root.querySelectorAll("[data-since]").forEach(function (el) {
      el.textContent = duration(nowServer() - parseFloat(el.dataset.since));
    });
  }

  function badge(table, state) {
    var entry = table[state] || [state, "grey"];
    return { words: entry[0], tone: entry[1] };
  }

  function empty(text) { return h("p", { "class": "empty", text: text }); }

  function renderLines(state, names, queueLabels) {
    var box = document.getElementById("lines");
    var cards = (state.lines || []).map(function (line) {
      var st = badge(labels.line, line.state);
      var caller = null;
      if (line.caller_number || line.caller_name) {
        caller = h("p", { "class": "caller", text: [line.caller_number, line.caller_name].filter(Boolean).join(" ") });
      } else if (line.call_id) {
        caller = h("p", { "class": "caller", text: "No caller ID" });
      }
      var since = line.since ? h("p", { "class": "since" }, ["for ",
        h("span", { "data-since": line.since, text: duration(nowServer() - line.since) })]) : null;
      var detail = null;
      if (line.queue) {
        var text = "Queue: " + (queueLabels[line.queue] || line.queue);
        if (line.staff_id) { text += " · Staff: " + (names[line.staff_id] || line.staff_id); }
        detail = h("p", { "class": "detail", text: text });
      }
      return h("article", { "class": "card line tone-" + st.tone, "data-line": line.id }, [
        h("header", {}, [h("h3", { text: line.label || line.id }), h("span", { "class": "badge tone-" + st.tone, text: st.words })]),
        caller, since, detail,
        line.fault ? h("p", { "class": "fault", text: line.fault }) : null,
        (line.model || line.port) ? h("p", { "class": "hardware",
          text: (line.model || "Modem") + (line.port ? " on " + line.port : "") }) : null
      ]);
    });
    box.replaceChildren.apply(box, cards.length ? cards : [empty("No lines are configured.")]);
  }

  function actionButton(member, action, label, newState) {
    var form = h("form", { method: "post", "class": "inline", "data-action": "",
      action: "/staff/" + encodeURIComponent(member.id) + "/" + (action === "staff_state" ? "state" : action) }, [
      h("input", { type: "hidden", name: "csrf_token", value: csrf }),
      newState ? h("input", { type: "hidden", name: "state", value: newState }) : null,
      h("button", { type: "submit", "class": "btn-" + action + (newState ? " btn-" + newState : ""), text: label })
    ]);
    return form;
  }

  function renderStaff(state) {
    var box = document.getElementById("staff");
    var cards = (state.staff || []).map(function (m) {
      var st = badge(labels.staff, m.state);
      var actions = null;
      if (viewer.supervisor || viewer.username === m.id) {
        var buttons = [];
        if (m.state === "ringing") { buttons.push(actionButton(m, "answer", "Answer")); }
        if (m.state === "talking") { buttons.push(actionButton(m, "hangup", "Hang up")); }
        if (["available", "ringing", "talking"].indexOf(m.state) < 0) { buttons.push(actionButton(m, "staff_state", "Available", "available")); }
        if (["break", "ringing", "talking"].indexOf(m.state) < 0) { buttons.push(actionButton(m, "staff_state", "Break", "break")); }
        actions = h("div", { "class": "actions" }, buttons);
      }
      return h("article", { "class": "card staff tone-" + st.tone, "data-staff": m.id }, [
        h("header", {}, [h("h3", { text: m.name || m.id }), h("span", { "class": "badge tone-" + st.tone, text: st.words })]),
        h("p", { "class": "detail", text: "Skills: " + ((m.skills || []).join(", ") || "none") }),
        h("p", { "class": "detail", text: "Headset: " + (m.headset || "none") }),
        m.headset_fault ? h("p", { "class": "fault", text: m.headset_fault }) : null,
        (m.state === "available" && m.idle_s !== null && m.idle_s !== undefined) ?
          h("p", { "class": "since", text: "Idle " + duration(m.idle_s) }) : null,
        actions
      ]);
    });
    box.replaceChildren.apply(box, cards.length ? cards : [empty("No staff are configured.")]);
  }

  function renderQueues(state) {
    var body = document.querySelector("#queues tbody");
    var rows = (state.queues || []).map(function (q) {
      return h("tr", { "data-queue": q.name }, [
        h("td", { text: q.label || q.name }),
        h("td", { "class": "num", text: String(q.waiting) }),
        h("td", { "class": "num", text: q.waiting ? duration(q.longest_wait_s || 0) : "—" })
      ]);
    });
    if (!rows.length) { rows = [h("tr", {}, [h("td", { colspan: "3", "class": "empty", text: "No queues." })])]; }
    body.replaceChildren.apply(body, rows);
  }

  function renderLights(state) {
    var box = document.getElementById("lights");
    var items = (state.lights || []).map(function (l) {
      return h("li", { "data-light": l.name }, [
        h("span", { "class": "lamp lamp-" + (labels.lamp[l.name] || "green") + " lamp-" + l.mode, "aria-hidden": "true" }),
        h("span", { text: l.label || l.name }), " ",
        h("span", { "class": "pin", text: "pin " + l.pin }), " ",
        h("span", { "class": "mode", text: labels.lampMode[l.mode] || l.mode })
      ]);
    });
    box.replaceChildren.apply(box, items.length ? items : [h("li", { "class": "empty", text: "No status lights." })]);
  }

  function updateTestCallLines(state) {
    var select = document.getElementById("tc-line");
    if (!select || !(state.lines || []).length) { return; }
    var chosen = select.value;
    var options = state.lines.map(function (line) {
      var text = (line.label || line.id) + (line.state && line.state !== "idle" ? " (busy)" : "");
      return h("option", { value: line.id, selected: line.id === chosen ? "selected" : null, text: text });
    });
    select.replaceChildren.apply(select, options);
    if (chosen) { select.value = chosen; }
  }

  function renderProblems(state) {
    var box = document.getElementById("problems");
    if (!box) { return; }
    var problems = (state.engine && state.engine.problems) || [];
    box.replaceChildren.apply(box, problems.map(function (p) { return h("li", { text: p }); }));
    box.hidden = problems.length === 0;
  }

  function render(state) {
    if (typeof state.server_now === "number") { clockOffset = state.server_now - Date.now() / 1000; }
    var names = {}, queueLabels = {};
    (state.staff || []).forEach(function (m) { names[m.id] = m.name || m.id; });
    (state.queues || []).forEach(function (q) { queueLabels[q.name] = q.label || q.name; });
    renderLines(state, names, queueLabels);
    renderStaff(state);
    renderQueues(state);
    renderLights(state);
    renderProblems(state);
    updateTestCallLines(state);
    root.dataset.version = String((parseInt(root.dataset.version || "0", 10) + 1));
  }

  function showBanner(text) {
    banner.textContent = text;
    banner.hidden = !text;
  }

  // -- live updates ---------------------------------------------------------------------------
  var source = null;
  function connect() {
    source = new EventSource(root.dataset.events);
    source.onmessage = function (ev) {
      showBanner("");
      render(JSON.parse(ev.data));
    };
    source.addEventListener("engine-down", function (ev) {
      showBanner(JSON.parse(ev.data).error + " Trying again every few seconds…");
    });
    source.addEventListener("busy", function (ev) {
      showBanner(JSON.parse(ev.data).error);
    });
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        // The site answered with an error (for example the login expired): reload the page,
        // which shows the login form or the reason.
        showBanner("Lost the connection to the admin site; reloading…");
        setTimeout(function () { window.location.reload(); }, 3000);
      } else if (banner.hidden) {
        showBanner("Lost the connection to the admin site; reconnecting…");
      }
    };
  }

  // -- staff buttons ----------------------------------------------------------------------------
  root.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.hasAttribute("data-action")) { return; }
    ev.preventDefault();
    var button = form.querySelector("button");
    button.disabled = true;
    actionError.hidden = true;
    fetch(form.action, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Accept": "application/json" }
    }).then(function (resp) {
      return resp.json().catch(function () { return { ok: false, error: "The admin site gave an unexpected answer (" + resp.status + ")." }; });
    }).then(function (answer) {
      if (!answer.ok) {
        actionError.textContent = answer.error;
        actionError.hidden = false;
      }
    }).catch(function () {
      actionError.textContent = "Could not reach the admin site. Check the network and try again.";
      actionError.hidden = false;
    }).finally(function () { button.disabled = false; });
  });

  setInterval(tick, 1000);
  connect();
}());
