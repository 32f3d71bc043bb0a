/* The till's customer: found by card scan or search, attached to the sale, made or edited
   here (online or offline). Talks to /pos/v1/customers; till.js asks it for the id. */
"use strict";
(function () {
  const { t } = window.TesseraI18n;
  const API = "/customers";
  const $ = (id) => document.getElementById(id);
  const FIELDS = [
    ["first_name", "text"], ["last_name", "text"], ["mobile", "tel"], ["email", "email"],
    ["address", "text"], ["postcode", "text"], ["city", "text"], ["country", "text"],
    ["language", "text"], ["birth_date", "date"],
    ["gender", "choice", ["female", "male", "other"]], ["observation", "textarea"],
    ["consent_email", "consent"], ["consent_sms", "consent"],
  ];

  const state = { customer: null, form: null, editing: null };

  const call = (method, path, body) => window.TesseraApi.call(method, API + path, body);

  function fullName(c) {
    return [c.first_name, c.last_name].filter(Boolean).join(" ") || c.mobile || c.email || c.id;
  }

  // -- the attached customer --------------------------------------------------------------

  function attach(customer) {
    state.customer = customer;
    render();
    window.dispatchEvent(new CustomEvent("tessera:customer", { detail: customer }));
  }

  function clear() {
    const had = state.customer !== null;
    state.customer = null;
    render();
    if (had) window.dispatchEvent(new CustomEvent("tessera:customer", { detail: null }));
  }

  function render() {
    const c = state.customer;
    $("cust-name").textContent = c ? fullName(c) : t("cust.none");
    $("cust-name").dataset.attached = c ? "yes" : "no";
    $("cust-observation").textContent = c && c.observation ? c.observation : "";
    $("cust-observation").hidden = !(c && c.observation);
    const alerts = $("cust-alerts");
    alerts.replaceChildren();
    for (const message of c ? c.alerts || [] : []) {
      const li = document.createElement("li");
      li.textContent = message;
      alerts.append(li);
    }
    $("btn-edit-customer").hidden = !c;
    $("btn-detach").hidden = !c;
    $("btn-gifts").hidden = !c;
    $("cust-pending").hidden = !(c && c.pending_upstream);
    nudge(document.body.dataset.mode === "pay");
  }

  /** When the sale goes to payment without a customer, remind the cashier to ask. */
  function nudge(paying) {
    $("cust-nudge").hidden = !(paying && !state.customer);
  }

  /** A scanned code that is not a product: the kind of the customer card it is, or null. */
  async function tryCard(code) {
    const { status, data } = await call("GET", "?card=" + encodeURIComponent(code));
    if (status !== 200 || !data.customers.length) return null;
    const customer = data.customers[0];
    attach(customer);
    const card = (customer.cards || []).find((c) => c.number === code);
    return card ? card.kind : "loyalty";
  }

  // -- the dialog: search, then the form --------------------------------------------------

  function open() {
    const dialog = $("cust-dialog");
    $("cust-form").hidden = true;
    $("cust-search").hidden = false;
    $("cust-results").replaceChildren();
    $("cust-central").textContent = "";
    $("cust-error").textContent = "";
    if (!dialog.open) dialog.showModal();
    $("cust-q").value = "";
    $("cust-q").focus();
  }

  function close() {
    const dialog = $("cust-dialog");
    if (dialog.open) dialog.close();
    $("scan").focus();
  }

  async function search(text) {
    if (!text) return;
    const { status, data } = await call("GET", "?q=" + encodeURIComponent(text));
    const list = $("cust-results");
    list.replaceChildren();
    $("cust-error").textContent = "";
    if (status !== 200) {
      $("cust-error").textContent = t("err.refused", { msg: describe(data) });
      return;
    }
    $("cust-central").textContent = data.central === "unreachable" ? t("cust.offline") : "";
    if (!data.customers.length) {
      $("cust-error").textContent = t("cust.notfound", { q: text });
      return;
    }
    for (const customer of data.customers) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "cust-result";
      button.textContent = [fullName(customer), customer.mobile, customer.email]
        .filter(Boolean).join(" · ");
      button.addEventListener("click", () => choose(customer.id));
      li.append(button);
      list.append(li);
    }
    list.querySelector("button").focus();
  }

  async function choose(id) {
    const { status, data } = await call("GET", "/" + encodeURIComponent(id));
    if (status !== 200) { $("cust-error").textContent = describe(data); return; }
    attach(data);
    close();
  }

  function describe(data) {
    if (!data) return "?";
    return data.message || "?";
  }

  async function loadForm() {
    if (state.form) return state.form;
    const { status, data } = await call("GET", "/form");
    state.form = status === 200 ? data : { questions: [], mandatory: [], card_range: false };
    return state.form;
  }

  function input(name, kind, choices, value) {
    let el;
    if (kind === "textarea") {
      el = document.createElement("textarea");
      el.value = value || "";
    } else if (kind === "choice") {
      el = document.createElement("select");
      for (const choice of ["", ...choices]) {
        const option = document.createElement("option");
        option.value = choice;
        option.textContent = choice ? t("choice." + choice) === "choice." + choice
          ? choice : t("choice." + choice) : "—";
        el.append(option);
      }
      el.value = value || "";
    } else if (kind === "consent") {
      el = document.createElement("select");
      for (const [v, label] of [["", "—"], ["true", t("yes")], ["false", t("no")]]) {
        const option = document.createElement("option");
        option.value = v;
        option.textContent = label;
        el.append(option);
      }
      el.value = value === true ? "true" : value === false ? "false" : "";
    } else {
      el = document.createElement("input");
      el.type = kind === "number" ? "text" : kind;
      if (kind === "number") el.inputMode = "decimal";
      el.value = value || "";
    }
    el.name = name;
    el.id = "cf-" + name.replace(".", "-");
    el.dataset.kind = kind;
    return el;
  }

  async function openForm(customer) {
    const form = await loadForm();
    if (!$("cust-dialog").open) $("cust-dialog").showModal();
    state.editing = customer;
    $("cust-search").hidden = true;
    $("cust-results").replaceChildren();
    $("cust-error").textContent = "";
    const box = $("cust-fields");
    box.replaceChildren();
    const rows = FIELDS.map(([name, kind, choices]) => ({
      name, kind, choices: choices || [], label: t("field." + name),
      value: customer ? customer[name] : null }));
    for (const q of form.questions) {
      rows.push({ name: q.field, kind: q.kind, choices: q.choices, label: q.label,
                  value: customer ? (customer.extra || {})[q.code] : null });
    }
    for (const row of rows) {
      const wrap = document.createElement("div");
      wrap.className = "cf";
      const label = document.createElement("label");
      const el = input(row.name, row.kind, row.choices, row.value);
      el.dataset.initial = el.value;
      label.htmlFor = el.id;
      label.textContent = row.label + (form.mandatory.includes(row.name) ? " *" : "");
      const problem = document.createElement("span");
      problem.className = "field-error";
      problem.dataset.field = row.name;
      wrap.append(label, el, problem);
      box.append(wrap);
    }
    $("cf-cards").value = "";
    $("cf-issue").checked = false;
    $("cf-issue-row").hidden = !form.card_range;
    $("cust-form").hidden = false;
    $("cust-form").dataset.mode = customer ? "edit" : "new";
    box.querySelector("input, select, textarea").focus();
  }

  function collect() {
    const fields = {};
    for (const el of $("cust-fields").querySelectorAll("[name]")) {
      if (state.editing && el.value === el.dataset.initial) continue;  // only what changed
      let value = el.value.trim();
      if (el.dataset.kind === "consent") value = value === "" ? null : value === "true";
      else if (value === "") value = null;
      if (value === null && !state.editing) continue;
      fields[el.name] = value;
    }
    const cards = $("cf-cards").value.split(/[\s,;]+/).filter(Boolean);
    return { fields, cards, issue_card: $("cf-issue").checked };
  }

  async function save() {
    const body = collect();
    for (const el of $("cust-fields").querySelectorAll(".field-error")) el.textContent = "";
    const answer = state.editing
      ? await call("PATCH", "/" + encodeURIComponent(state.editing.id), body)
      : await call("POST", "", { ...body, id: crypto.randomUUID() });
    if (answer.status === 200 || answer.status === 201) {
      attach(answer.data);
      close();
      return;
    }
    const errors = (answer.data && answer.data.errors) || {};
    let shown = false;
    for (const [field, messages] of Object.entries(errors)) {
      const slot = $("cust-fields").querySelector(`.field-error[data-field="${field}"]`);
      if (slot) { slot.textContent = [].concat(messages).join(" "); shown = true; }
    }
    $("cust-error").textContent = shown && Object.keys(errors).every(
      (f) => $("cust-fields").querySelector(`.field-error[data-field="${f}"]`))
      ? t("cust.fix") : t("err.refused", { msg: describe(answer.data) + " "
                                                + JSON.stringify(errors) });
  }

  function wire() {
    $("btn-customer").addEventListener("click", open);
    $("btn-new-customer").addEventListener("click", () => openForm(null));
    $("btn-edit-customer").addEventListener("click", () => openForm(state.customer));
    $("btn-detach").addEventListener("click", () => { clear(); $("scan").focus(); });
    $("cust-new").addEventListener("click", () => openForm(null));
    $("cust-close").addEventListener("click", close);
    $("cust-form-close").addEventListener("click", close);
    $("cust-dialog").addEventListener("close", () => $("scan").focus());
    $("cust-search").addEventListener("submit", (event) => {
      event.preventDefault();
      search($("cust-q").value.trim());
    });
    $("cust-form").addEventListener("submit", (event) => {
      event.preventDefault();
      save();
    });
    document.addEventListener("keydown", (event) => {
      if ($("cust-dialog").open) return;
      if (event.key === "F3") { event.preventDefault(); open(); }
      if (event.key === "F4") { event.preventDefault(); openForm(null); }
    });
    new MutationObserver(() => nudge(document.body.dataset.mode === "pay"))
      .observe(document.body, { attributes: true, attributeFilter: ["data-mode"] });
    render();
  }

  window.TesseraCustomers = {
    id: () => (state.customer ? state.customer.id : null),
    tryCard, clear, render,
  };
  document.addEventListener("DOMContentLoaded", wire);
})();
