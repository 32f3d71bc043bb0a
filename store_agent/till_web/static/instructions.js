/* Head office's instructions at the browser till (SPEC S4) and the message to the seller.
   Asks the agent every few seconds which instructions are current for the signed-in cashier,
   shows them (a scrolling band when head office asked for it: CSS animation), and reports
   each one shown as seen (the agent tells central once). */
"use strict";
(function () {
  const I18N = window.TesseraI18n;
  I18N.extend({
    en: { "instructions.title": "Instructions from head office", "seller.title": "Reminder" },
    it: { "instructions.title": "Istruzioni della sede", "seller.title": "Promemoria" },
    fr: { "instructions.title": "Consignes du siège", "seller.title": "Rappel" },
    ro: { "instructions.title": "Instrucțiuni de la sediu", "seller.title": "Memento" },
  });
  const POLL_MS = 3000;
  const $ = (id) => document.getElementById(id);
  const reported = new Set();   // instruction:cashier pairs the agent has acknowledged
  let sellerMessage = null;

  function cashier() { return window.TesseraCashier ? window.TesseraCashier.code() : null; }

  function show(list) {
    const box = $("instructions");
    box.replaceChildren();
    for (const item of list) {
      const row = document.createElement("div");
      row.className = item.scroll ? "instruction scroll" : "instruction";
      row.dataset.instruction = item.id;
      const text = document.createElement("span");
      text.className = "instruction-text";
      text.textContent = item.text;
      row.append(text);
      box.append(row);
    }
    box.hidden = list.length === 0;
  }

  async function report(list) {
    const who = cashier();
    for (const item of list) {
      const key = item.id + ":" + (who || "");
      if (item.seen || reported.has(key)) continue;
      try {
        const { status } = await window.TesseraApi.call(
          "POST", "/instructions/" + encodeURIComponent(item.id) + "/seen", { cashier: who });
        if (status === 200 || status === 404) reported.add(key);
      } catch (_) { /* the agent is down: report on the next round */ }
    }
  }

  function showSeller() {
    const el = $("seller-message");
    el.hidden = !sellerMessage;
    $("seller-message-text").textContent = sellerMessage || "";
  }

  async function poll() {
    const signInNeeded = !$("signin").hidden;
    if (signInNeeded) { show([]); return; }  // nobody at the till: nobody sees it
    const who = cashier();
    let data;
    try {
      const answer = await window.TesseraApi.call(
        "GET", "/instructions" + (who ? "?cashier=" + encodeURIComponent(who) : ""));
      if (answer.status !== 200 || !answer.data) return;
      data = answer.data;
    } catch (_) { return; }
    show(data.instructions);
    sellerMessage = data.seller_message;
    showSeller();
    await report(data.instructions);
  }

  window.TesseraInstructions = {
    sellerMessage: () => sellerMessage,   // for the customer work: nudge on sales without one
    refresh: poll,
  };

  document.addEventListener("DOMContentLoaded", () => {
    window.addEventListener("tessera:cashier", poll);
    poll();
    setInterval(poll, POLL_MS);
  });
})();
