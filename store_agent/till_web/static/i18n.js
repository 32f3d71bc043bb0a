/* The till's and the display's message catalogue: English, Italian, French, Romanian. */
"use strict";
(function () {
  const CATALOGUES = {
    en: {
      language: "Language", status: "Status", scan: "Scan or type a code",
      "hint.sell": "Enter: add · 3* then code: quantity 3 · ↑↓ select · Del: void line · F2: pay",
      "hint.pay": "Type the amount given, then Enter (cash) or F6 (card); Enter alone: exact cash",
      basket: "Basket", "col.item": "Item", "col.qty": "Qty", "col.price": "Price",
      "col.amount": "Amount", total: "Total", savings: "Savings", totals: "Totals",
      "vat.title": "VAT", "vat.rate": "VAT", "vat.net": "Net", "vat.vat": "VAT",
      "vat.gross": "Gross", payment: "Payment", due: "Still due", change: "Change",
      receipt: "Receipt", "btn.pay": "Pay (F2)", "btn.cash": "Cash (F5)",
      "btn.card": "Card (F6)", "btn.void": "Void line (Del)", "btn.cancel": "Cancel (Esc)",
      "btn.retry": "Send again", "btn.print": "Print again", "btn.new": "New sale (Enter)",
      "central.online": "Central online", "central.offline": "Central offline",
      "central.broker": "No broker: working offline", outbox: "Sales to upload: {n}",
      "printer.ok": "Printer ready", "printer.none": "No fiscal printer",
      "printer.problem": "Printer: {msg}", "printer.busy": "Printer printing",
      "printer.unknown": "Printer: checking", "printer.waiting": "{n} receipt(s) waiting",
      "agent.down": "The store agent does not answer",
      "reason.promotion": "Promotion {code}", "reason.sales_rule": "Discount {code}",
      "reason.partner": "Partner card {code}", "reason.vip": "VIP card {code}",
      "reason.voucher": "Voucher {code}", "reason.other": "{reason}",
      "reason.excluded": "No discount ({code})", card: "Card {code}",
      "err.unknown": "Unknown code {code}", "err.qty": "Quantity must be a number above 0",
      "err.amount": "Not an amount: {text}", "err.empty": "The basket is empty",
      "err.nothing": "No line selected", "err.network": "No answer from the agent; the sale is kept, send it again",
      "err.refused": "Refused: {msg}", "paid.cash": "Cash", "paid.card": "Card",
      "fiscal.done": "Fiscal receipt {doc}", "fiscal.waiting": "Fiscal receipt not printed yet: {msg}",
      "fiscal.none": "", sale: "Sale {n}", "display.welcome": "Welcome",
      "display.thanks": "Thank you!", "display.savings": "You save", "display.sale": "Your purchase",
      "display.promo": "Promotions", "paper.printed": "Receipt printed",
      "customer": "Customer", "customers": "Customers", "cust.none": "No customer",
      "cust.pending": "not at head office yet", "cust.alerts": "Alerts",
      "cust.nudge": "No customer on this sale: ask for the card or the phone number",
      "cust.search": "Card, mobile, e-mail or name",
      "cust.offline": "Head office unreachable: searched this store's copy only",
      "cust.notfound": "No customer found for {q}", "cust.fix": "Correct the fields marked in red",
      "btn.customer": "Customer (F3)", "btn.newcustomer": "New customer (F4)",
      "btn.editcustomer": "Edit customer", "btn.detach": "Remove customer", "btn.search": "Search",
      "btn.close": "Close", "btn.save": "Save", "field.first_name": "First name",
      "field.last_name": "Last name", "field.mobile": "Mobile", "field.email": "E-mail",
      "field.address": "Address", "field.postcode": "Postcode", "field.city": "City",
      "field.country": "Country (IT, RO...)", "field.language": "Language (it, ro...)",
      "field.birth_date": "Birth date", "field.gender": "Gender",
      "field.observation": "Observation", "field.consent_email": "E-mail marketing",
      "field.consent_sms": "SMS marketing", "field.cards": "Cards (scan)",
      "field.issue_card": "Give a new card", "yes": "Yes", "no": "No", "choice.female": "Female",
      "choice.male": "Male", "choice.other": "Other",
    },
    it: {
      language: "Lingua", status: "Stato", scan: "Scansiona o digita un codice",
      "hint.sell": "Invio: aggiungi · 3* poi codice: quantità 3 · ↑↓ scegli · Canc: storna riga · F2: paga",
      "hint.pay": "Digita l'importo ricevuto, poi Invio (contanti) o F6 (carta); solo Invio: contanti esatti",
      basket: "Carrello", "col.item": "Articolo", "col.qty": "Qtà", "col.price": "Prezzo",
      "col.amount": "Importo", total: "Totale", savings: "Risparmio", totals: "Totali",
      "vat.title": "IVA", "vat.rate": "IVA", "vat.net": "Imponibile", "vat.vat": "Imposta",
      "vat.gross": "Lordo", payment: "Pagamento", due: "Ancora da pagare", change: "Resto",
      receipt: "Scontrino", "btn.pay": "Paga (F2)", "btn.cash": "Contanti (F5)",
      "btn.card": "Carta (F6)", "btn.void": "Storna riga (Canc)", "btn.cancel": "Annulla (Esc)",
      "btn.retry": "Invia di nuovo", "btn.print": "Ristampa", "btn.new": "Nuova vendita (Invio)",
      "central.online": "Sede in linea", "central.offline": "Sede non raggiungibile",
      "central.broker": "Nessun broker: lavoro offline", outbox: "Vendite da inviare: {n}",
      "printer.ok": "Stampante pronta", "printer.none": "Nessuna stampante fiscale",
      "printer.problem": "Stampante: {msg}", "printer.busy": "Stampante in stampa",
      "printer.unknown": "Stampante: verifica", "printer.waiting": "{n} scontrino/i in attesa",
      "agent.down": "L'agente del negozio non risponde",
      "reason.promotion": "Promozione {code}", "reason.sales_rule": "Sconto {code}",
      "reason.partner": "Carta partner {code}", "reason.vip": "Carta VIP {code}",
      "reason.voucher": "Buono {code}", "reason.other": "{reason}",
      "reason.excluded": "Nessuno sconto ({code})", card: "Carta {code}",
      "err.unknown": "Codice sconosciuto {code}", "err.qty": "La quantità deve essere un numero maggiore di 0",
      "err.amount": "Importo non valido: {text}", "err.empty": "Il carrello è vuoto",
      "err.nothing": "Nessuna riga scelta", "err.network": "L'agente non risponde; la vendita è conservata, inviala di nuovo",
      "err.refused": "Rifiutato: {msg}", "paid.cash": "Contanti", "paid.card": "Carta",
      "fiscal.done": "Scontrino fiscale {doc}", "fiscal.waiting": "Scontrino fiscale non ancora stampato: {msg}",
      "fiscal.none": "", sale: "Vendita {n}", "display.welcome": "Benvenuti",
      "display.thanks": "Grazie!", "display.savings": "Risparmi", "display.sale": "Il tuo acquisto",
      "display.promo": "Promozioni", "paper.printed": "Scontrino stampato",
      "customer": "Cliente", "customers": "Clienti", "cust.none": "Nessun cliente",
      "cust.pending": "non ancora in sede", "cust.alerts": "Avvisi",
      "cust.nudge": "Nessun cliente su questa vendita: chiedi la carta o il numero di telefono",
      "cust.search": "Carta, cellulare, e-mail o nome",
      "cust.offline": "Sede non raggiungibile: cercato solo nella copia del negozio",
      "cust.notfound": "Nessun cliente trovato per {q}",
      "cust.fix": "Correggi i campi segnati in rosso", "btn.customer": "Cliente (F3)",
      "btn.newcustomer": "Nuovo cliente (F4)", "btn.editcustomer": "Modifica cliente",
      "btn.detach": "Togli cliente", "btn.search": "Cerca", "btn.close": "Chiudi",
      "btn.save": "Salva", "field.first_name": "Nome", "field.last_name": "Cognome",
      "field.mobile": "Cellulare", "field.email": "E-mail", "field.address": "Indirizzo",
      "field.postcode": "CAP", "field.city": "Città", "field.country": "Paese (IT, RO...)",
      "field.language": "Lingua (it, ro...)", "field.birth_date": "Data di nascita",
      "field.gender": "Genere", "field.observation": "Osservazione",
      "field.consent_email": "Marketing via e-mail", "field.consent_sms": "Marketing via SMS",
      "field.cards": "Carte (scansiona)", "field.issue_card": "Dai una nuova carta", "yes": "Sì",
      "no": "No", "choice.female": "Donna", "choice.male": "Uomo", "choice.other": "Altro",
    },
    fr: {
      language: "Langue", status: "État", scan: "Scannez ou tapez un code",
      "hint.sell": "Entrée : ajouter · 3* puis code : quantité 3 · ↑↓ choisir · Suppr : annuler la ligne · F2 : payer",
      "hint.pay": "Tapez le montant reçu, puis Entrée (espèces) ou F6 (carte) ; Entrée seule : espèces exactes",
      basket: "Panier", "col.item": "Article", "col.qty": "Qté", "col.price": "Prix",
      "col.amount": "Montant", total: "Total", savings: "Économies", totals: "Totaux",
      "vat.title": "TVA", "vat.rate": "TVA", "vat.net": "HT", "vat.vat": "TVA",
      "vat.gross": "TTC", payment: "Paiement", due: "Reste à payer", change: "Rendu",
      receipt: "Ticket", "btn.pay": "Payer (F2)", "btn.cash": "Espèces (F5)",
      "btn.card": "Carte (F6)", "btn.void": "Annuler la ligne (Suppr)", "btn.cancel": "Abandonner (Échap)",
      "btn.retry": "Renvoyer", "btn.print": "Réimprimer", "btn.new": "Nouvelle vente (Entrée)",
      "central.online": "Siège en ligne", "central.offline": "Siège hors ligne",
      "central.broker": "Pas de broker : travail hors ligne", outbox: "Ventes à envoyer : {n}",
      "printer.ok": "Imprimante prête", "printer.none": "Pas d'imprimante fiscale",
      "printer.problem": "Imprimante : {msg}", "printer.busy": "Imprimante en cours",
      "printer.unknown": "Imprimante : vérification", "printer.waiting": "{n} ticket(s) en attente",
      "agent.down": "L'agent du magasin ne répond pas",
      "reason.promotion": "Promotion {code}", "reason.sales_rule": "Remise {code}",
      "reason.partner": "Carte partenaire {code}", "reason.vip": "Carte VIP {code}",
      "reason.voucher": "Bon {code}", "reason.other": "{reason}",
      "reason.excluded": "Sans remise ({code})", card: "Carte {code}",
      "err.unknown": "Code inconnu {code}", "err.qty": "La quantité doit être un nombre supérieur à 0",
      "err.amount": "Montant invalide : {text}", "err.empty": "Le panier est vide",
      "err.nothing": "Aucune ligne choisie", "err.network": "L'agent ne répond pas ; la vente est gardée, renvoyez-la",
      "err.refused": "Refusé : {msg}", "paid.cash": "Espèces", "paid.card": "Carte",
      "fiscal.done": "Ticket fiscal {doc}", "fiscal.waiting": "Ticket fiscal pas encore imprimé : {msg}",
      "fiscal.none": "", sale: "Vente {n}", "display.welcome": "Bienvenue",
      "display.thanks": "Merci !", "display.savings": "Vous économisez", "display.sale": "Vos achats",
      "display.promo": "Promotions", "paper.printed": "Ticket imprimé",
      "customer": "Client", "customers": "Clients", "cust.none": "Pas de client",
      "cust.pending": "pas encore au siège", "cust.alerts": "Alertes",
      "cust.nudge": "Pas de client sur cette vente : demandez la carte ou le numéro de téléphone",
      "cust.search": "Carte, mobile, e-mail ou nom",
      "cust.offline": "Siège injoignable : recherche dans la copie du magasin seulement",
      "cust.notfound": "Aucun client trouvé pour {q}",
      "cust.fix": "Corrigez les champs marqués en rouge", "btn.customer": "Client (F3)",
      "btn.newcustomer": "Nouveau client (F4)", "btn.editcustomer": "Modifier le client",
      "btn.detach": "Retirer le client", "btn.search": "Chercher", "btn.close": "Fermer",
      "btn.save": "Enregistrer", "field.first_name": "Prénom", "field.last_name": "Nom",
      "field.mobile": "Mobile", "field.email": "E-mail", "field.address": "Adresse",
      "field.postcode": "Code postal", "field.city": "Ville", "field.country": "Pays (IT, RO...)",
      "field.language": "Langue (it, ro...)", "field.birth_date": "Date de naissance",
      "field.gender": "Genre", "field.observation": "Observation",
      "field.consent_email": "Marketing par e-mail", "field.consent_sms": "Marketing par SMS",
      "field.cards": "Cartes (scanner)", "field.issue_card": "Donner une nouvelle carte",
      "yes": "Oui", "no": "Non", "choice.female": "Femme", "choice.male": "Homme",
      "choice.other": "Autre",
    },
    ro: {
      language: "Limba", status: "Stare", scan: "Scanați sau tastați un cod",
      "hint.sell": "Enter: adaugă · 3* apoi cod: cantitate 3 · ↑↓ alege · Del: anulează linia · F2: plată",
      "hint.pay": "Tastați suma primită, apoi Enter (numerar) sau F6 (card); doar Enter: numerar exact",
      basket: "Coș", "col.item": "Articol", "col.qty": "Cant.", "col.price": "Preț",
      "col.amount": "Valoare", total: "Total", savings: "Economii", totals: "Totaluri",
      "vat.title": "TVA", "vat.rate": "TVA", "vat.net": "Net", "vat.vat": "TVA",
      "vat.gross": "Brut", payment: "Plată", due: "Rest de plată", change: "Rest",
      receipt: "Bon", "btn.pay": "Plată (F2)", "btn.cash": "Numerar (F5)",
      "btn.card": "Card (F6)", "btn.void": "Anulează linia (Del)", "btn.cancel": "Renunță (Esc)",
      "btn.retry": "Trimite din nou", "btn.print": "Retipărește", "btn.new": "Vânzare nouă (Enter)",
      "central.online": "Centrala online", "central.offline": "Centrala offline",
      "central.broker": "Fără broker: lucru offline", outbox: "Vânzări de trimis: {n}",
      "printer.ok": "Imprimantă pregătită", "printer.none": "Fără imprimantă fiscală",
      "printer.problem": "Imprimantă: {msg}", "printer.busy": "Imprimanta tipărește",
      "printer.unknown": "Imprimantă: verificare", "printer.waiting": "{n} bon(uri) în așteptare",
      "agent.down": "Agentul magazinului nu răspunde",
      "reason.promotion": "Promoție {code}", "reason.sales_rule": "Reducere {code}",
      "reason.partner": "Card partener {code}", "reason.vip": "Card VIP {code}",
      "reason.voucher": "Voucher {code}", "reason.other": "{reason}",
      "reason.excluded": "Fără reducere ({code})", card: "Card {code}",
      "err.unknown": "Cod necunoscut {code}", "err.qty": "Cantitatea trebuie să fie un număr peste 0",
      "err.amount": "Sumă invalidă: {text}", "err.empty": "Coșul este gol",
      "err.nothing": "Nicio linie aleasă", "err.network": "Agentul nu răspunde; vânzarea este păstrată, trimiteți-o din nou",
      "err.refused": "Refuzat: {msg}", "paid.cash": "Numerar", "paid.card": "Card",
      "fiscal.done": "Bon fiscal {doc}", "fiscal.waiting": "Bonul fiscal nu e tipărit încă: {msg}",
      "fiscal.none": "", sale: "Vânzarea {n}", "display.welcome": "Bun venit",
      "display.thanks": "Vă mulțumim!", "display.savings": "Economisiți", "display.sale": "Cumpărăturile dvs.",
      "display.promo": "Promoții", "paper.printed": "Bon tipărit",
      "customer": "Client", "customers": "Clienți", "cust.none": "Niciun client",
      "cust.pending": "încă nu e la sediu", "cust.alerts": "Alerte",
      "cust.nudge": "Niciun client la această vânzare: cereți cardul sau numărul de telefon",
      "cust.search": "Card, mobil, e-mail sau nume",
      "cust.offline": "Sediul nu răspunde: căutat doar în copia magazinului",
      "cust.notfound": "Niciun client găsit pentru {q}",
      "cust.fix": "Corectați câmpurile marcate cu roșu", "btn.customer": "Client (F3)",
      "btn.newcustomer": "Client nou (F4)", "btn.editcustomer": "Modifică clientul",
      "btn.detach": "Scoate clientul", "btn.search": "Caută", "btn.close": "Închide",
      "btn.save": "Salvează", "field.first_name": "Prenume", "field.last_name": "Nume",
      "field.mobile": "Mobil", "field.email": "E-mail", "field.address": "Adresă",
      "field.postcode": "Cod poștal", "field.city": "Oraș", "field.country": "Țară (IT, RO...)",
      "field.language": "Limbă (it, ro...)", "field.birth_date": "Data nașterii",
      "field.gender": "Gen", "field.observation": "Observație",
      "field.consent_email": "Marketing prin e-mail", "field.consent_sms": "Marketing prin SMS",
      "field.cards": "Carduri (scanați)", "field.issue_card": "Dă un card nou", "yes": "Da",
      "no": "Nu", "choice.female": "Femeie", "choice.male": "Bărbat", "choice.other": "Altul",
    },
  };
  const KEY = "tessera.language";

  function choose() {
    const asked = new URLSearchParams(location.search).get("lang") || localStorage.getItem(KEY);
    const wanted = [asked, ...(navigator.languages || [navigator.language])];
    for (const tag of wanted) {
      const code = (tag || "").slice(0, 2).toLowerCase();
      if (CATALOGUES[code]) return code;
    }
    return "en";
  }

  let language = choose();

  function t(key, params) {
    const text = CATALOGUES[language][key] ?? CATALOGUES.en[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => (params && name in params ? params[name] : ""));
  }

  /** Translate every element marked data-i18n (text) or data-i18n-aria (its label). */
  function apply(root) {
    document.documentElement.lang = language;
    for (const el of (root || document).querySelectorAll("[data-i18n]")) {
      el.textContent = t(el.dataset.i18n);
    }
    for (const el of (root || document).querySelectorAll("[data-i18n-aria]")) {
      el.setAttribute("aria-label", t(el.dataset.i18nAria));
    }
  }

  function set(code) {
    if (!CATALOGUES[code]) return;
    language = code;
    localStorage.setItem(KEY, code);
    apply();
  }

  /** More messages (a feature's own script): {en: {...}, it: {...}, ...}. */
  function extend(more) {
    for (const [code, entries] of Object.entries(more)) {
      if (CATALOGUES[code]) Object.assign(CATALOGUES[code], entries);
    }
  }

  window.TesseraI18n = { t, apply, set, extend, get language() { return language; },
                         languages: Object.keys(CATALOGUES) };
})();
