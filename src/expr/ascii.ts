/**
 * Norwegian-aware transliteration to ASCII, for mail addresses and account names.
 * Norwegian (and Danish) letters have conventional spellings that accent stripping gets wrong
 * (ø is not "o with a mark" to NFKD, and å would become plain "a"); Sami letters that do not
 * decompose are mapped too. Everything else loses its accents through NFKD.
 */
const LETTERS: Record<string, string> = {
  æ: 'ae',
  ø: 'o',
  å: 'aa',
  Æ: 'Ae',
  Ø: 'O',
  Å: 'Aa',
  ß: 'ss',
  ẞ: 'SS',
  œ: 'oe',
  Œ: 'Oe',
  þ: 'th',
  Þ: 'Th',
  ð: 'd',
  Ð: 'D',
  đ: 'd',
  Đ: 'D',
  ŋ: 'n',
  Ŋ: 'N',
  ŧ: 't',
  Ŧ: 'T',
  ł: 'l',
  Ł: 'L',
  ı: 'i',
};

const isUpper = (c: string | undefined) => c !== undefined && c !== c.toLowerCase() && c === c.toUpperCase();

const PLAIN = /^[\x00-\x7f]*$/;

export function ascii(input: unknown): string {
  const text = input == null ? '' : String(input);
  if (PLAIN.test(text)) return text;
  // Names repeat (a directory of 100,000 has a few thousand given names): each is worked out once.
  // Only short texts are kept, and few: a source's values are anyone's to make large.
  if (text.length > SEEN_LENGTH_MAX) return transliterate(text);
  let out = seen.get(text);
  if (out === undefined) {
    out = transliterate(text);
    if (out.length > SEEN_LENGTH_MAX * 4) return out;
    if (seen.size >= SEEN_MAX) seen.clear();
    // A copy of the key: a text cut from a longer one (`split`, `slice`) would keep all of that
    // longer one, a source's field, alive as long as the key is kept.
    seen.set([...text].join(''), out);
  }
  return out;
}

const SEEN_MAX = 10_000;
const SEEN_LENGTH_MAX = 64;
const seen = new Map<string, string>();

function transliterate(text: string): string {
  let out = '';
  const chars = [...text];
  chars.forEach((c, i) => {
    const mapped = LETTERS[c];
    if (mapped === undefined) {
      out += c;
      return;
    }
    // In an all-caps word (ÆRØ, ÅSE) the two-letter spelling stays all caps: AERO, AASE.
    const shouting =
      isUpper(c) && (isUpper(chars[i + 1]) || (isUpper(chars[i - 1]) && !/\p{Ll}/u.test(chars[i + 1] ?? '')));
    out += shouting ? mapped.toUpperCase() : mapped;
  });
  return out.normalize('NFKD').replace(/\p{M}/gu, '');
}
