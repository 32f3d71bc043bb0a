/* The customer's loyalty gifts at the till: the Gifts button (shown while a customer is
   attached) lists every gift from /pos/v1/customers/{id}/gifts with its level, its points
   and whether it can be taken now or why not; taking one adds its gift line to the sale
   (till.js: TesseraTill.addGift). The agent checks the gift again when it prices the sale. */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  window.TesseraI18n.extend({
    en: { "btn.gifts": "Gifts", "gifts.title": "Gifts", "gifts.take": "Take",
          "gifts.balance": "Balance {balance} points, may spend {may} now",
          "gifts.level": "level {level}", "gifts.points": "{points} points",
          "points.earned": "Points" },
    it: { "btn.gifts": "Premi", "gifts.title": "Premi", "gifts.take": "Prendi",
          "gifts.balance": "Saldo {balance} punti, spendibili ora {may}",
          "gifts.level": "livello {level}", "gifts.points": "{points} punti",
          "points.earned": "Punti" },
    fr: { "btn.gifts": "Cadeaux", "gifts.title": "Cadeaux", "gifts.take": "Prendre",
          "gifts.balance": "Solde {balance} points, utilisables maintenant {may}",
          "gifts.level": "niveau {level}", "gifts.points": "{points} points",
          "points.earned": "Points" },
    ro: { "btn.gifts": "Cadouri", "gifts.title": "Cadouri", "gifts.take": "Ia",
          "gifts.balance": "Sold {balance} puncte, se pot folosi acum {may}",
          "gifts.level": "nivel {level}", "gifts.points": "{points} puncte",
          "points.earned": "Puncte" },
  });
  const { t } = window.TesseraI18n;

  function close() {
    const dialog = $("gifts-dialog");
    if (dialog.open) dialog.close();
    $("scan").focus();
  }

  async function open() {
    const customer = window.TesseraCustomers && window.TesseraCustomers.id();
    if (!customer) return;
    const taken = window.TesseraTill.giftInBasket();
    const query = taken ? "?taken=" + encodeURIComponent(taken) : "";
    const list = $("gifts-list");
    list.replaceChildren();
    $("gifts-error").textContent = "";
    const dialog = $("gifts-dialog");
    if (!dialog.open) dialog.showModal();
    const { status, data } = await window.TesseraApi.call(
      "GET", "/customers/" + encodeURIComponent(customer) + "/gifts" + query);
    if (status !== 200) {
      $("gifts-error").textContent = t("err.refused", { msg: (data && data.message) || "?" });
      return;
    }
    $("gifts-balance").textContent = t("gifts.balance", { balance: data.balance,
                                                          may: data.may_spend });
    for (const gift of data.gifts) {
      const li = document.createElement("li");
      li.className = "gift";
      li.dataset.sku = gift.sku;
      li.dataset.canTake = gift.can_take ? "yes" : "no";
      const name = document.createElement("span");
      name.className = "gift-name";
      name.textContent = (gift.name || gift.sku) + " · "
        + t("gifts.level", { level: gift.level_name || gift.level }) + " · "
        + t("gifts.points", { points: gift.points });
      li.append(name);
      if (gift.can_take) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "gift-take";
        button.textContent = t("gifts.take");
        button.addEventListener("click", async () => {
          close();
          await window.TesseraTill.addGift(gift.sku);
        });
        li.append(button);
      } else {
        const why = document.createElement("span");
        why.className = "gift-reason";
        why.textContent = gift.reason;
        li.append(why);
      }
      list.append(li);
    }
    const first = list.querySelector("button");
    (first || $("gifts-close")).focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("btn-gifts").addEventListener("click", open);
    $("gifts-close").addEventListener("click", close);
    $("gifts-dialog").addEventListener("close", () => $("scan").focus());
  });
  window.TesseraGifts = { open };
})();
