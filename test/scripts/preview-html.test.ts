import { describe, expect, it } from 'vitest';
import { previewHtml } from '../../scripts/preview-html.js';

describe('docs:screenshot page', () => {
  it('renders preview.md as a forge does: tables, inline code, and diff lines coloured by sign', () => {
    const html = previewHtml(
      [
        '# Preview: r',
        '',
        '| | |',
        '|---|---|',
        '| **To change** | **1 user** |',
        '',
        '```diff',
        '-mail: <old>@kommune.no',
        '+mail: ny@kommune.no',
        '# mail had no value',
        '```',
        '',
        '- **mail** from givenName = `Åse`',
      ].join('\n'),
      'reports/r/preview.md',
    );
    expect(html).toContain('<span class="path">reports/r/preview.md</span>');
    expect(html).toContain('<td><strong>To change</strong></td>');
    expect(html).toContain('<span class="line del">-mail: &lt;old&gt;@kommune.no</span>');
    expect(html).toContain('<span class="line add">+mail: ny@kommune.no</span>');
    expect(html).toContain('<span class="line note"># mail had no value</span>');
    expect(html).toContain('<li><strong>mail</strong> from givenName = <code>Åse</code></li>');
  });
});
