import { describe, expect, it } from 'vitest';
import { checkSourceBytes } from '../../src/source/check-source.js';

const messages = (bytes: Buffer, format: 'csv' | 'json') =>
  checkSourceBytes(bytes, { name: `p.${format}`, format, id: 'id' }).diagnostics.map(
    (d) => `${d.line}: ${d.message}`,
  );

describe('checkSourceBytes', () => {
  it('finds a control character a JSON escape puts in a value, though the text holds none', () => {
    const json = Buffer.from('[{"id": "1", "sn": "Ok"}, {"id": "2", "sn": "Bad\\u0001"}]');
    expect(json.includes(0x01)).toBe(false);
    expect(messages(json, 'json')).toEqual([
      expect.stringMatching(/field `sn` holds the control character U\+0001/),
    ]);
  });

  it('finds control characters in CSV values and reports none in a clean file', () => {
    expect(messages(Buffer.from('id,sn\n1,Ok\n2,B\x07d\n'), 'csv')).toEqual([
      '3: field `sn` holds the control character U+0007; remove it from the export (a directory value must not contain it)',
    ]);
    expect(messages(Buffer.from('id,sn\n1,Ok\n2,Ærø\n'), 'csv')).toEqual([]);
  });

  it('knows every ID key, those of records left out for repeating or being empty included', () => {
    const check = (text: string, format: 'csv' | 'json') =>
      checkSourceBytes(Buffer.from(text), { name: `p.${format}`, format, id: 'id' });
    const csv = check('id,sn\n A1 ,x\na1,y\n  ,z\nB2,w\n', 'csv');
    const has = (ids: { has(key: string): boolean } | undefined, keys: string[]) =>
      keys.filter((k) => ids!.has(k));
    expect(has(csv.ids, ['a1', '', 'b2', 'c3', 'x'])).toEqual(['a1', '', 'b2']);
    expect(csv.data!.records.map((r) => r.id)).toEqual(['B2']);
    expect([...csv.data!.fields]).toEqual(['id', 'sn']);
    const json = check('[{"id": 7, "a": 1}, {"id": true, "b": 2}, {"id": "Ø7", "c": 3}]', 'json');
    // An ID that is neither text nor a number (true) makes a record, but names no key.
    expect(has(json.ids, ['7', 'ø7', 'true', ''])).toEqual(['7', 'ø7']);
    expect(json.data!.records.map((r) => r.id)).toEqual(['7', 'true', 'Ø7']);
    expect([...json.data!.fields]).toEqual(['id', 'a', 'b', 'c']);
  });

  it('locates the first byte that is not UTF-8, after an overlong form too', () => {
    expect(messages(Buffer.from([0x69, 0x64, 0x0a, 0x31, 0xc0, 0xaf, 0x0a]), 'csv')).toEqual([
      expect.stringMatching(/^2: is not valid UTF-8 \(byte 0xC0 at offset 4\)/),
    ]);
  });
});
