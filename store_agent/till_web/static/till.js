/* The browser till: a client of the agent's POS API (/pos/v1), keyboard and scanner first. */
"use strict";
(function () {
  const { t } = window.TesseraI18n;
  const M = window.TesseraMoney;
  const PENDING = "tessera.pending-sale";
  const params = new URLSearchParams(location.search);
  const TILL = /^[A-Za-z0-9._-]{1,32}$/.test(params.get("till") || "") ? params.get("till") : "1";
  const $ = (id) => document.getElementById(id);

  const state = {
    lines: [],        // what the cashier scanned: {code, qty}
    cards: [],
    priced: null,     // the agent's answer to baskets/price
    selected: -1,
    mode: "sell",     // sell | pay | sending | retry | done
    payments: [],     // {method, cents}
    pending: null,    // the exact body of the sale being sent (kept for a retry)
    sale: null,
    receiptPrinter: false,
  };

  let queue = Promise.resolve();
  let displayQueue = Promise.resolve();
  const locale = () => window.TesseraI18n.language;
  const money = (text) => M.show(text, locale());

  // -- talking to the agent ---------------------------------------------------------------

  const call = (method, path, body) => window.TesseraApi.call(method, path, body);

  function describe(data) {
    if (!data) return "?";
    const details = data.errors ? " " + JSON.stringify(data.errors) : "";
    return (data.message || "") + details;
  }

  function say(text, kind) {
    const el = $("message");
    el.textContent = text || "";
    el.dataset.kind = kind || "error";
  }

  function publishDisplay(body) {
    displayQueue = displayQueue.then(() => call("PUT", "/display/basket", { till: TILL, ...body })
      .catch(() => null));
  }

  // -- selling ----------------------------------------------------------------------------

  function snapshot() {
    return { lines: state.lines.map((l) => ({ ...l })), cards: [...state.cards],
             selected: state.selected };
  }

  function restore(saved) {
    state.lines = saved.lines;
    state.cards = saved.cards;
    state.selected = saved.selected;
  }

  function requestLines() {
    return state.lines.map((l) => ({ code: l.code, qty: l.qty,
                                     ...(l.gift ? { gift: true } : {}) }));
  }

  function customerId() {
    return window.TesseraCustomers ? window.TesseraCustomers.id() : null;
  }

  /** Price the basket; on a refusal put back ``saved`` and say why. */
  async function reprice(saved) {
    if (!state.lines.length) {
      state.priced = null;
      render();
      publishDisplay({ lines: [] });
      return true;
    }
    const basket = { lines: requestLines(), cards: state.cards };
    const customer = customerId();
    // The agent shows what it has just priced on this till's display (priced once).
    const priced = displayQueue.then(() => call(
      "POST", "/baskets/price",
      { ...(customer ? { ...basket, customer } : basket), display: TILL }));
    displayQueue = priced.catch(() => null);
    const { status, data } = await priced;
    if (status === 200) {
      state.priced = data;
      render();
      return true;
    }
    if (status === 422 && data && data.errors && data.errors.cards
        && state.cards.includes(triedCard)) {
      // The card scanned last is not one the pricing knows: drop it, keep the lines.
      const code = triedCard;
      triedCard = "";
      state.cards = state.cards.filter((c) => c !== code);
      await reprice(null);
      say(t("err.unknown", { code }));
      return false;
    }
    if (saved) restore(saved);
    say(t("err.refused", { msg: describe(data) }));
    render();
    return false;
  }

  let triedCard = "";

  async function addCode(code, qty) {
    const found = await call("GET", "/products/" + encodeURIComponent(code));
    const saved = snapshot();
    if (found.status === 200) {
      const last = state.lines[state.lines.length - 1];
      if (!qty && last && !last.gift && last.code === code && /^\d+$/.test(last.qty)) {
        last.qty = String(parseInt(last.qty, 10) + 1);
      } else {
        state.lines.push({ code, qty: qty || "1" });
      }
      state.selected = state.lines.length - 1;
      say("");
      return reprice(saved);
    }
    if (found.status !== 404) {
      say(t("err.refused", { msg: describe(found.data) }));
      return false;
    }
    // Not a product: perhaps a customer's card (attached to the sale; a chain loyalty card
    // stops there), or a partner or VIP card the pricing knows.
    const customers = window.TesseraCustomers;
    const held = !qty && customers ? await customers.tryCard(code) : null;
    if (held === "loyalty") { say(""); return true; }
    if (qty || state.cards.includes(code)) {
      say(t("err.unknown", { code }));
      return false;
    }
    triedCard = code;
    state.cards.push(code);
    if (!state.lines.length) {
      render();  // checked with the first line
      say("");
      return true;
    }
    const ok = await reprice(saved);
    if (ok) say(t("card", { code }), "info");
    return ok;
  }

  /** Add the loyalty gift ``sku`` as its own line (the Gifts list, gifts.js). */
  function addGift(sku) {
    queue = queue.then(async () => {
      if (state.mode !== "sell") return false;
      const saved = snapshot();
      state.lines.push({ code: sku, qty: "1", gift: true });
      state.selected = state.lines.length - 1;
      say("");
      return reprice(saved);
    }).catch((e) => say(String(e)));
    return queue;
  }

  async function setQty(qty) {
    if (state.selected < 0 || !state.lines[state.selected]) { say(t("err.nothing")); return; }
    const saved = snapshot();
    state.lines[state.selected].qty = qty;
    await reprice(saved);
  }

  async function voidLine() {
    if (state.selected < 0 || !state.lines[state.selected]) { say(t("err.nothing")); return; }
    state.lines.splice(state.selected, 1);
    state.selected = Math.min(state.selected, state.lines.length - 1);
    say("");
    await reprice(null);
  }

  async function onScan(text) {
    if (state.mode === "done") { newSale(); if (!text) return; }
    if (state.mode === "pay") { await tender("cash", text); return; }
    if (state.mode !== "sell" || !text) return;
    const m = /^(\d+(?:[.,]\d{1,3})?)\*(.*)$/.exec(text);
    if (m) {
      const qty = m[1].replace(",", ".");
      if (!(Number(qty) > 0)) { say(t("err.qty")); return; }
      if (m[2]) await addCode(m[2].trim(), qty); else await setQty(qty);
      return;
    }
    await addCode(text, null);
  }

  // -- paying -----------------------------------------------------------------------------

  function totalCents() { return state.priced ? M.cents(state.priced.total) : 0; }
  function paidCents() { return state.payments.reduce((sum, p) => sum + p.cents, 0); }

  function startPayment() {
    if (state.mode !== "sell") return;
    if (!state.lines.length || !state.priced) { say(t("err.empty")); return; }
    state.mode = "pay";
    state.payments = [];
    say("");
    render();
  }

  async function tender(method, text) {
    if (state.mode === "sell") startPayment();
    if (state.mode !== "pay") return;
    const due = totalCents() - paidCents();
    let amount = due;
    if (text) {
      amount = M.cents(text);
      if (amount === null || amount <= 0) { say(t("err.amount", { text })); return; }
    }
    if (method !== "cash") amount = Math.min(amount, due);  // no change on a card
    state.payments.push({ method, cents: amount });
    render();
    if (paidCents() >= totalCents()) {
      state.pending = {
        uuid: crypto.randomUUID(),
        lines: requestLines(), cards: [...state.cards], till: TILL,
        ...(window.TesseraCashier && window.TesseraCashier.code()
          ? { cashier: window.TesseraCashier.code() } : {}),
        ...(window.TesseraCustomers && window.TesseraCustomers.id()
          ? { customer: window.TesseraCustomers.id() } : {}),
        payments: state.payments.map((p) => ({ method: p.method, amount: M.wire(p.cents) })),
      };
      localStorage.setItem(PENDING, JSON.stringify(state.pending));
      await submit();
    }
  }

  async function submit() {
    state.mode = "sending";
    render();
    let answer;
    try {
      answer = await call("POST", "/sales", state.pending);
    } catch (_) {
      state.mode = "retry";
      say(t("err.network"));
      render();
      return;
    }
    if (answer.status === 201 || answer.status === 200) {
      localStorage.removeItem(PENDING);
      await done(answer.data);
      return;
    }
    // Refused: nothing was recorded under this UUID; the same body may be sent again.
    state.mode = answer.status === 503 ? "retry" : "pay";
    if (state.mode === "pay") { state.payments = []; state.pending = null;
      localStorage.removeItem(PENDING); }
    say(t("err.refused", { msg: describe(answer.data) }));
    render();
  }

  async function done(sale) {
    state.sale = sale;
    state.mode = "done";
    say("");
    publishDisplay({ sale: sale.uuid });
    const receipt = await call("GET", "/sales/" + sale.uuid + "/receipt").catch(() => null);
    $("receipt-text").textContent = receipt && receipt.status === 200
      ? receipt.data.text.join("\n") : "";
    const fiscal = sale.fiscal;
    $("receipt-fiscal").textContent = !fiscal ? "" : fiscal.state === "done"
      ? t("fiscal.done", { doc: fiscal.document_number })
      : t("fiscal.waiting", { msg: fiscal.error || fiscal.state });
    $("receipt-fiscal").dataset.state = fiscal ? fiscal.state : "none";
    render();
    window.dispatchEvent(new CustomEvent("tessera:sale-done", { detail: sale }));
  }

  function newSale() {
    Object.assign(state, { lines: [], cards: [], priced: null, selected: -1, mode: "sell",
                           payments: [], pending: null, sale: null });
    triedCard = "";
    if (window.TesseraCustomers) window.TesseraCustomers.clear();
    say("");
    publishDisplay({ lines: [] });
    render();
  }

  function cancel() {
    if (state.mode === "pay") {
      state.mode = "sell";
      state.payments = [];
      say("");
      render();
    } else if (state.mode === "sell" && state.lines.length) {
      newSale();
    } else if (state.mode === "done") {
      newSale();
    }
  }

  async function printAgain() {
    if (!state.sale) return;
    const { status, data } = await call("POST", "/sales/" + state.sale.uuid + "/receipt/print");
    say(status === 200 ? t("paper.printed") : t("err.refused", { msg: describe(data) }),
        status === 200 ? "info" : "error");
  }

  // -- drawing ----------------------------------------------------------------------------

  function cell(row, text, cls) {
    const td = row.insertCell();
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function reasonText(adj) {
    const key = "reason." + adj.kind;
    return t(key in { "reason.promotion": 1, "reason.sales_rule": 1, "reason.partner": 1,
                      "reason.vip": 1, "reason.voucher": 1 } ? key : "reason.other",
             { code: adj.code, reason: adj.reason });
  }

  function render() {
    const body = $("basket").tBodies[0];
    body.replaceChildren();
    const priced = state.priced ? state.priced.lines : [];
    priced.forEach((line, i) => {
      const row = body.insertRow();
      row.className = "line" + (i === state.selected ? " selected" : "");
      row.dataset.sku = line.sku;
      if (line.gift) row.dataset.gift = "yes";
      if (i === state.selected) row.setAttribute("aria-selected", "true");
      cell(row, line.name, "name");
      cell(row, M.qty(line.qty), "num");
      cell(row, money(line.unit_price), "num");
      cell(row, money(line.amount), "num amount");
      row.addEventListener("click", () => { state.selected = i; render(); });
      for (const adj of line.adjustments) {
        const sub = body.insertRow();
        sub.className = "adjustment";
        cell(sub, reasonText(adj), "reason").colSpan = 3;
        cell(sub, "-" + money(adj.amount), "num");
      }
      if (line.excluded_by) {
        const sub = body.insertRow();
        sub.className = "adjustment excluded";
        cell(sub, t("reason.excluded", { code: line.excluded_by }), "reason").colSpan = 4;
      }
    });
    $("cards").textContent = state.cards.map((c) => t("card", { code: c })).join(" · ");
    $("total").textContent = money(state.priced ? state.priced.total : "0.00");
    $("savings").textContent = money(state.priced ? state.priced.discount : "0.00");
    const points = state.priced && state.priced.loyalty;
    $("points-row").hidden = !points;
    $("points").textContent = points ? M.qty(points.points) : "";
    const vat = $("vat").tBodies[0];
    vat.replaceChildren();
    for (const part of state.priced ? state.priced.vat : []) {
      const row = vat.insertRow();
      cell(row, M.qty(part.rate) + "%");
      cell(row, money(part.net), "num");
      cell(row, money(part.vat), "num");
      cell(row, money(part.gross), "num");
    }
    const paying = ["pay", "sending", "retry", "done"].includes(state.mode);
    $("payment").hidden = !paying;
    const list = $("payments");
    list.replaceChildren();
    for (const p of state.payments) {
      const li = document.createElement("li");
      li.textContent = t("paid." + p.method) + " " + money(p.cents);
      list.append(li);
    }
    const due = Math.max(totalCents() - paidCents(), 0);
    $("due").textContent = money(due);
    if (state.mode === "done" && state.sale) {
      const li = document.createElement("li");
      li.className = "change";
      li.textContent = t("change") + " " + money(state.sale.change);
      list.append(li);
    }
    $("btn-retry").hidden = state.mode !== "retry";
    $("receipt").hidden = state.mode !== "done";
    $("hint").textContent = t(state.mode === "pay" ? "hint.pay" : "hint.sell");
    document.body.dataset.mode = state.mode;
  }

  // -- the status bar ---------------------------------------------------------------------

  function pill(id, text, kind) {
    const el = $(id);
    el.textContent = text;
    el.dataset.state = kind;
  }

  async function pollStatus() {
    try {
      const { status, data } = await call("GET", "/status");
      if (status !== 200) throw new Error(String(status));
      if (!data.broker_connected) pill("st-central", t("central.broker"), "offline");
      else if (data.central_online) pill("st-central", t("central.online"), "ok");
      else pill("st-central", t("central.offline"), "offline");
      pill("st-outbox", t("outbox", { n: data.outbox_pending }),
           data.outbox_pending ? "warning" : "ok");
      const printer = data.fiscal_printer;
      if (!printer) pill("st-printer", t("printer.none"), "none");
      else if (printer.messages.length) {
        pill("st-printer", t("printer.problem", { msg: printer.messages.join("; ") }),
             printer.state === "warning" ? "warning" : "error");
      } else pill("st-printer", t("printer." + (["ok", "busy"].includes(printer.state)
        ? printer.state : "unknown")), printer.state);
      $("st-store").textContent = data.store + " · " + TILL;
    } catch (_) {
      pill("st-central", t("agent.down"), "error");
    }
  }

  // -- keyboard ---------------------------------------------------------------------------

  function wire() {
    const scan = $("scan");
    const lang = $("lang");
    lang.value = window.TesseraI18n.language;
    lang.addEventListener("change", () => {
      window.TesseraI18n.set(lang.value);
      render();
      pollStatus();
      scan.focus();
    });
    // The scanner types into this field whatever has been clicked.
    scan.addEventListener("blur", () => setTimeout(() => {
      const active = document.activeElement;
      if (active !== lang && !(active && active.closest("[data-own-focus]"))) scan.focus();
    }, 0));
    $("scan-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = scan.value.trim();
      scan.value = "";
      queue = queue.then(() => onScan(text)).catch((e) => say(String(e)));
    });
    const keys = {
      F2: () => startPayment(),
      F5: () => tender("cash", takeInput()),
      F6: () => tender("card", takeInput()),
      Escape: () => cancel(),
      Delete: () => (state.mode === "sell" ? voidLine() : null),
      ArrowUp: () => { state.selected = Math.max(state.selected - 1, 0); render(); },
      ArrowDown: () => {
        state.selected = Math.min(state.selected + 1, state.lines.length - 1); render();
      },
    };
    document.addEventListener("keydown", (event) => {
      const action = keys[event.key];
      if (!action || document.querySelector("dialog[open]")) return;
      event.preventDefault();
      queue = queue.then(action).catch((e) => say(String(e)));
    });
    const buttons = {
      "btn-pay": () => startPayment(), "btn-cash": () => tender("cash", takeInput()),
      "btn-card": () => tender("card", takeInput()), "btn-void": () => voidLine(),
      "btn-cancel": () => cancel(), "btn-retry": () => submit(),
      "btn-print": () => printAgain(), "btn-new": () => newSale(),
    };
    for (const [id, action] of Object.entries(buttons)) {
      $(id).addEventListener("click", () => {
        queue = queue.then(action).catch((e) => say(String(e)));
        scan.focus();
      });
    }
  }

  function takeInput() {
    const scan = $("scan");
    const text = scan.value.trim();
    scan.value = "";
    return text;
  }

  window.TesseraTill = {
    addGift,
    giftInBasket: () => {
      const gift = state.lines.find((l) => l.gift);
      return gift ? gift.code : null;
    },
  };
  // A customer attached or removed: the basket's points (and any gift) are priced again.
  window.addEventListener("tessera:customer", () => {
    if (state.mode !== "sell" || !state.lines.length) return;
    queue = queue.then(() => reprice(null)).catch((e) => say(String(e)));
  });

  document.addEventListener("DOMContentLoaded", () => {
    window.TesseraI18n.apply();
    wire();
    const kept = localStorage.getItem(PENDING);
    if (kept) {
      // A sale sent before a reload without an answer: it can only be sent again as it was.
      state.pending = JSON.parse(kept);
      state.lines = state.pending.lines;
      state.cards = state.pending.cards;
      state.payments = state.pending.payments.map((p) => ({ method: p.method,
                                                             cents: M.cents(p.amount) }));
      state.mode = "retry";
      reprice(null).then(() => { state.mode = "retry"; render(); });
    }
    render();
    $("scan").focus();
    pollStatus();
    setInterval(pollStatus, 2000);
  });
})();
