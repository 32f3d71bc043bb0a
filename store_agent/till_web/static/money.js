/* Money in the browser: integer cents, never floating point; decimal strings on the wire. */
"use strict";
(function () {
  const PATTERN = /^(-)?(\d{1,9})(?:[.,](\d{1,2}))?$/;

  /** Cents of a decimal string ("12.3", "12,30", "-0.05"); null when it is not money. */
  function cents(text) {
    const m = PATTERN.exec(String(text).trim());
    if (!m) return null;
    const value = parseInt(m[2], 10) * 100 + parseInt((m[3] || "0").padEnd(2, "0"), 10);
    return m[1] ? -value : value;
  }

  /** The wire form of cents: "12.30". */
  function wire(value) {
    const sign = value < 0 ? "-" : "";
    const abs = Math.abs(value);
    return sign + Math.floor(abs / 100) + "." + String(abs % 100).padStart(2, "0");
  }

  /** A decimal string shown in ``locale`` (digit grouping and decimal mark). */
  function show(text, locale) {
    const value = typeof text === "number" ? text : cents(text);
    if (value === null) return String(text);
    const parts = new Intl.NumberFormat(locale).formatToParts(1234.5);
    const group = (parts.find((p) => p.type === "group") || { value: "" }).value;
    const decimal = (parts.find((p) => p.type === "decimal") || { value: "." }).value;
    const [whole, frac] = wire(value).replace("-", "").split(".");
    const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, group);
    return (value < 0 ? "-" : "") + grouped + decimal + frac;
  }

  /** A quantity ("2", "0.250") shown without trailing zeros. */
  function qty(text) {
    const s = String(text);
    return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
  }

  window.TesseraMoney = { cents, wire, show, qty };
})();
