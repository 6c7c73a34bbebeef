/** ASCII is its own normal form; skipping ICU for it halves the cost of a large plan's comparisons. */
const ASCII = /^[\x00-\x7f]*$/;
export function nfc(text: string): string {
  return ASCII.test(text) ? text : text.normalize('NFC');
}
