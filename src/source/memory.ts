/**
 * What reading a source takes in memory, per byte of the file, at most in practice (measured with
 * 100,000 records, margins for smaller records): JSON is parsed whole, text and values (3.7 times
 * its size); YAML, read in pieces, some 16 times. CSV counts what it keeps as it reads (columns
 * nothing reads cost nothing), except a file only csv-parse reads, which holds every field.
 */
export const MEMORY_PER_BYTE = { json: 6, yaml: 16, csvParse: 10 } as const;
