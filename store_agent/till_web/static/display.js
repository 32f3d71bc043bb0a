/* The customer display: the till's basket live (server-sent events) beside promotions. */
"use strict";
(function () {
  const { t } = window.TesseraI18n;
  const M = window.TesseraMoney;
  const params = new URLSearchParams(location.search);
  const TILL = /^[A-Za-z0-9._-]{1,32}$/.test(params.get("till") || "") ? params.get("till") : "1";
  const $ = (id) => document.getElementById(id);
  const money = (text) => M.show(text, window.TesseraI18n.language);

  function render(view) {
    const list = $("lines");
    list.replaceChildren();
    for (const line of view.lines || []) {
      const li = document.createElement("li");
      li.className = "line" + (line.excluded ? " excluded" : "");
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = (M.qty(line.qty) !== "1" ? M.qty(line.qty) + " × " : "") + line.name;
      const amount = document.createElement("span");
      amount.className = "amount";
      amount.textContent = money(line.amount);
      li.append(name, amount);
      if (M.cents(line.discount) > 0) {
        const was = document.createElement("s");
        was.className = "was";
        was.textContent = money(line.gross);
        li.append(was);
      }
      list.append(li);
    }
    $("total").textContent = money(view.total || "0.00");
    $("savings").textContent = money(view.discount || "0.00");
    $("savings-row").hidden = !(M.cents(view.discount || "0") > 0);
    $("change-row").hidden = view.state !== "paid";
    $("change").textContent = money(view.change || "0.00");
    $("greeting").textContent = t(view.state === "paid" ? "display.thanks" : "display.welcome");
    document.body.dataset.state = view.state || "idle";
    document.body.dataset.version = String(view.version || 0);
  }

  function listen() {
    const events = new EventSource("/pos/v1/display/events?till=" + encodeURIComponent(TILL));
    events.addEventListener("basket", (event) => render(JSON.parse(event.data)));
    // EventSource reconnects by itself after the agent closes a stream or restarts.
  }

  // -- promotions -------------------------------------------------------------------------

  let items = [];
  let index = -1;
  let timer = null;

  async function loadContent() {
    try {
      const response = await fetch("/pos/v1/display/content");
      if (response.ok) items = (await response.json()).items;
    } catch (_) { /* keep what we had: the agent may restart */ }
  }

  function next() {
    clearTimeout(timer);
    const promo = $("promo");
    if (!items.length) { promo.replaceChildren(); timer = setTimeout(cycle, 30000); return; }
    index = (index + 1) % items.length;
    const item = items[index];
    let el;
    if (item.kind === "image") {
      el = document.createElement("img");
      el.alt = "";
      el.src = item.src;
    } else if (item.kind === "video") {
      el = document.createElement("video");
      el.src = item.src;
      el.muted = true;
      el.autoplay = true;
      el.playsInline = true;
      el.addEventListener("ended", next);
      el.addEventListener("error", next);
    } else {
      el = document.createElement("iframe");
      el.src = item.src;
      el.setAttribute("sandbox", "allow-scripts allow-same-origin");
      el.title = item.src;
    }
    el.className = "media";
    el.dataset.kind = item.kind;
    promo.replaceChildren(el);
    if (item.seconds) timer = setTimeout(cycle, item.seconds * 1000);
  }

  async function cycle() {
    if (index === items.length - 1 || !items.length) await loadContent();
    next();
  }

  document.addEventListener("DOMContentLoaded", () => {
    window.TesseraI18n.apply();
    render({ state: "idle", lines: [] });
    listen();
    cycle();
  });
})();
