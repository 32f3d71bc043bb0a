/* Cashier sign-in at the browser till (SPEC S8): code and PIN checked by the agent, offline.
   The signed-in cashier is kept for this browser tab (sessionStorage); every sale names it. */
"use strict";
(function () {
  const I18N = window.TesseraI18n;
  I18N.extend({
    en: { "cashier.title": "Cashier sign-in", "cashier.code": "Cashier code", "cashier.pin": "PIN",
          "cashier.submit": "Sign in", "cashier.signout": "Sign out", "cashier.who": "Cashier: {name}",
          "cashier.wrong": "Unknown cashier or wrong PIN", "cashier.refused": "Refused: {msg}" },
    it: { "cashier.title": "Accesso cassiere", "cashier.code": "Codice cassiere", "cashier.pin": "PIN",
          "cashier.submit": "Accedi", "cashier.signout": "Esci", "cashier.who": "Cassiere: {name}",
          "cashier.wrong": "Cassiere sconosciuto o PIN errato", "cashier.refused": "Rifiutato: {msg}" },
    fr: { "cashier.title": "Connexion caissier", "cashier.code": "Code caissier", "cashier.pin": "Code PIN",
          "cashier.submit": "Se connecter", "cashier.signout": "Se déconnecter", "cashier.who": "Caissier : {name}",
          "cashier.wrong": "Caissier inconnu ou code PIN erroné", "cashier.refused": "Refusé : {msg}" },
    ro: { "cashier.title": "Autentificare casier", "cashier.code": "Cod casier", "cashier.pin": "PIN",
          "cashier.submit": "Autentificare", "cashier.signout": "Ieșire", "cashier.who": "Casier: {name}",
          "cashier.wrong": "Casier necunoscut sau PIN greșit", "cashier.refused": "Refuzat: {msg}" },
  });
  const KEY = "tessera.cashier";
  const $ = (id) => document.getElementById(id);
  let current = JSON.parse(sessionStorage.getItem(KEY) || "null");
  let required = false;

  function show() {
    const signedIn = Boolean(current);
    $("signin").hidden = !required || signedIn;
    $("st-cashier").hidden = !signedIn;
    $("btn-signout").hidden = !signedIn;
    if (signedIn) $("st-cashier").textContent = I18N.t("cashier.who", { name: current.name });
    if (!$("signin").hidden) $("signin-code").focus();
    else if (document.activeElement && document.activeElement.closest("#signin")) $("scan").focus();
  }

  async function load() {
    try {
      const { status, data } = await window.TesseraApi.call("GET", "/cashiers");
      if (status === 200 && data) required = data.required;
    } catch (_) { /* the agent is down: the till says so; ask again later */ }
    show();
  }

  async function signIn(event) {
    event.preventDefault();
    const body = { code: $("signin-code").value.trim(), pin: $("signin-pin").value };
    $("signin-pin").value = "";
    let status, data;
    try {
      ({ status, data } = await window.TesseraApi.call("POST", "/cashiers/sign-in", body));
    } catch (_) { $("signin-message").textContent = I18N.t("agent.down"); return; }
    if (status === 200) {
      current = data;
      sessionStorage.setItem(KEY, JSON.stringify(current));
      $("signin-message").textContent = "";
      $("signin-code").value = "";
      show();
      window.dispatchEvent(new CustomEvent("tessera:cashier", { detail: current }));
    } else {
      $("signin-message").textContent = status === 401 ? I18N.t("cashier.wrong")
        : I18N.t("cashier.refused", { msg: (data && data.message) || status });
      $("signin-pin").focus();
    }
  }

  function signOut() {
    current = null;
    sessionStorage.removeItem(KEY);
    show();
    window.dispatchEvent(new CustomEvent("tessera:cashier", { detail: null }));
  }

  window.TesseraCashier = {
    code: () => (current ? current.code : null),
    current: () => current,
    signOut,
  };

  document.addEventListener("DOMContentLoaded", () => {
    $("signin-form").addEventListener("submit", signIn);
    $("btn-signout").addEventListener("click", signOut);
    $("lang").addEventListener("change", show);
    load();
    setInterval(() => { if (!current) load(); }, 5000);
  });
})();
