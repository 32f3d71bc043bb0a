/* The store's survey at the browser till (SPEC S5), asked once the sale is validated.
   Each question shows its choices numbered 1..9: the cashier presses the customer's answer
   (or clicks it); Esc or "Skip" ends the survey. The answers given are posted for the sale
   (the agent records them once and tells central); a skipped survey posts nothing. If the
   agent does not answer, the answers are kept in the browser and sent again later. */
"use strict";
(function () {
  const I18N = window.TesseraI18n;
  I18N.extend({
    en: { "survey.title": "Survey", "survey.skip": "Skip (Esc)", "survey.thanks": "Thank you!",
          "survey.hint": "Press the number of the customer's answer; Esc skips the survey." },
    it: { "survey.title": "Sondaggio", "survey.skip": "Salta (Esc)", "survey.thanks": "Grazie!",
          "survey.hint": "Premi il numero della risposta del cliente; Esc salta il sondaggio." },
    fr: { "survey.title": "Enquête", "survey.skip": "Passer (Échap)", "survey.thanks": "Merci !",
          "survey.hint": "Tapez le numéro de la réponse du client ; Échap passe l'enquête." },
    ro: { "survey.title": "Sondaj", "survey.skip": "Sari peste (Esc)", "survey.thanks": "Mulțumim!",
          "survey.hint": "Apăsați numărul răspunsului clientului; Esc sare peste sondaj." },
  });
  const KEPT = "tessera.survey.unsent";
  const $ = (id) => document.getElementById(id);
  let survey = null;
  let asking = null;   // {sale, index, answers}

  async function load() {
    try {
      const { status, data } = await window.TesseraApi.call("GET", "/survey");
      if (status === 200 && data) survey = data.survey;
    } catch (_) { /* keep the one we had */ }
  }

  function open() { return !$("survey").hidden; }

  function showQuestion() {
    const question = survey.questions[asking.index];
    $("survey-name").textContent = survey.name;
    $("survey-question").textContent = question.text;
    const list = $("survey-choices");
    list.replaceChildren();
    question.choices.forEach((choice, n) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.choice = choice.code;
      button.textContent = (n + 1) + ". " + choice.text;
      button.addEventListener("click", () => answer(n));
      item.append(button);
      list.append(item);
    });
    $("survey-message").textContent = "";
    $("survey-box").focus();
  }

  function close() {
    $("survey").hidden = true;
    asking = null;
    $("scan").focus();
  }

  async function send(sale, answers) {
    const unsent = JSON.parse(localStorage.getItem(KEPT) || "{}");
    unsent[sale] = answers;
    localStorage.setItem(KEPT, JSON.stringify(unsent));
    await flush();
  }

  async function flush() {
    const unsent = JSON.parse(localStorage.getItem(KEPT) || "{}");
    for (const [sale, answers] of Object.entries(unsent)) {
      let status = 0;
      try {
        ({ status } = await window.TesseraApi.call(
          "POST", "/sales/" + encodeURIComponent(sale) + "/survey", { answers }));
      } catch (_) { continue; }  // the agent is down: keep them
      if (status !== 0 && status < 500) delete unsent[sale];
    }
    localStorage.setItem(KEPT, JSON.stringify(unsent));
  }

  function answer(n) {
    const question = survey.questions[asking.index];
    const choice = question.choices[n];
    if (!choice) return;
    asking.answers.push({ question: question.code, choice: choice.code });
    asking.index += 1;
    if (asking.index < survey.questions.length) { showQuestion(); return; }
    const { sale, answers } = asking;
    close();
    send(sale, answers);
  }

  function skip() {
    if (!asking) return;
    const { sale, answers } = asking;
    close();
    if (answers.length) send(sale, answers);  // what was answered before skipping counts
  }

  async function ask(event) {
    await load();
    if (!survey || !survey.questions.length) return;
    asking = { sale: event.detail.uuid, index: 0, answers: [] };
    $("survey").hidden = false;
    showQuestion();
  }

  // Before the till's own keys (Esc would cancel, digits would go to the scanner field).
  window.addEventListener("keydown", (event) => {
    if (!open()) return;
    event.stopImmediatePropagation();
    event.preventDefault();
    if (event.key === "Escape") skip();
    else if (/^[1-9]$/.test(event.key)) answer(Number(event.key) - 1);
  }, true);

  window.TesseraSurvey = { asking: () => Boolean(asking) };

  document.addEventListener("DOMContentLoaded", () => {
    $("survey-skip").addEventListener("click", skip);
    window.addEventListener("tessera:sale-done", ask);
    load();
    flush();
    setInterval(() => { load(); flush(); }, 10000);
  });
})();
