/* The till's one way to the agent's POS API (/pos/v1): a JSON body in, {status, data} out
   (data null when the answer is not JSON). When the agent cannot be reached the promise
   rejects, as fetch does: every caller says so in its own way. */
"use strict";
(function () {
  const BASE = "/pos/v1";

  async function call(method, path, body) {
    const init = { method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(BASE + path, init);
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    return { status: response.status, data };
  }

  window.TesseraApi = { call };
})();
