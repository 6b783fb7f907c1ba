// ISBN-10, ISBN-13 and EAN-13 check digits: a scan is only taken when its digits check out.

/** The canonical ISBN-13 (or EAN-13) for what was typed, or null. */
export function isbnOf(raw) {
  const s = String(raw).replace(/[\s-]/g, '').toUpperCase();
  if (/^\d{13}$/.test(s)) {
    const sum = [...s].reduce((acc, d, i) => acc + Number(d) * (i % 2 ? 3 : 1), 0);
    return sum % 10 === 0 ? s : null;
  }
  if (/^\d{9}[\dX]$/.test(s)) {
    const sum = [...s].reduce((acc, d, i) => acc + (d === 'X' ? 10 : Number(d)) * (10 - i), 0);
    if (sum % 11 !== 0) return null;
    const body = `978${s.slice(0, 9)}`;
    const check = (10 - ([...body].reduce((a, d, i) => a + Number(d) * (i % 2 ? 3 : 1), 0) % 10)) % 10;
    return body + check;
  }
  return null;
}
