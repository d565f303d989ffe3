// CSV cells as `recent-calls export` writes them: RFC 4180 quoting, and formula-safe cells
// (a cell starting with =, +, -, @, a tab or a carriage return gets a leading ' as OWASP
// advises), so a spreadsheet never runs a caller's name as a formula. Pure.

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value) {
  let text = value === null || value === undefined ? "" : String(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvLine(values) {
  return `${values.map(csvCell).join(",")}\r\n`;
}

// The CSV of calls, one line per call, in the order of `keys`.
export function csvRows(calls, keys) {
  return calls.map((call) => csvLine(keys.map((key) => call[key]))).join("");
}

// Counts line ends in streamed bytes, for progress; quoted line breaks are rare enough that a
// progress figure may run slightly ahead.
export function countLines(bytes) {
  let count = 0;
  for (let index = 0; index < bytes.length; index += 1) if (bytes[index] === 10) count += 1;
  return count;
}
