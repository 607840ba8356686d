// Rendering and sanitising model output, on a jsdom window (the webview's renderer, unchanged).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JSDOM } from 'jsdom';
import { createMarkdownRenderer } from '../../src/webview/render';

const dom = new JSDOM('<!DOCTYPE html><body></body>');
const renderer = createMarkdownRenderer(dom.window);

function parse(html: string): Document {
  const doc = new JSDOM(`<!DOCTYPE html><body>${html}</body>`).window.document;
  return doc;
}

function assertInert(html: string): void {
  const doc = parse(html);
  assert.equal(doc.querySelectorAll('script, iframe, object, embed, img, svg, style, form').length, 0, html);
  for (const element of Array.from(doc.querySelectorAll('*'))) {
    for (const attribute of Array.from(element.attributes)) {
      assert.doesNotMatch(attribute.name, /^on/i, `${element.tagName} has ${attribute.name}`);
      assert.doesNotMatch(attribute.value, /^\s*(javascript|vbscript|data):/i, `${element.tagName} ${attribute.name}=${attribute.value}`);
    }
  }
}

describe('markdown rendering', () => {
  test('renders markdown and highlights code fences', () => {
    const html = renderer.render('# Title\n\nSome **bold** text.\n\n```python\ndef f(x):\n    return x\n```\n');
    const doc = parse(html);
    assert.equal(doc.querySelector('h1')?.textContent, 'Title');
    assert.equal(doc.querySelector('strong')?.textContent, 'bold');
    const code = doc.querySelector('pre code');
    assert.equal(code?.textContent, 'def f(x):\n    return x\n');
    assert.ok(code.querySelector('.hljs-keyword'), 'python keywords are highlighted');
  });

  test('unknown fence languages are escaped, not highlighted', () => {
    const doc = parse(renderer.render('```klingon\n<b>x</b>\n```'));
    assert.equal(doc.querySelector('pre code')?.textContent, '<b>x</b>\n');
    assert.equal(doc.querySelector('pre code b'), null);
  });

  test('raw HTML in model output is shown as text, never as elements', () => {
    const source = 'Look: <script>alert(1)</script> and <img src=x onerror="alert(2)"> and <iframe src="https://evil"></iframe>';
    const html = renderer.render(source);
    assertInert(html);
    const text = parse(html).body.textContent;
    assert.ok(text.includes('<script>alert(1)</script>'), 'the script tag is visible as text');
    assert.ok(text.includes('onerror'), 'the img tag is visible as text');
  });

  test('dangerous links lose their href; http links keep it with rel=noopener', () => {
    const html = renderer.render('[a](javascript:alert(1)) [b](data:text/html,<script>x</script>) [c](https://example.com) [d](vbscript:x)');
    assertInert(html);
    const links = Array.from(parse(html).querySelectorAll('a'));
    const hrefs = links.map((a) => a.getAttribute('href'));
    assert.deepEqual(hrefs.filter(Boolean), ['https://example.com']);
    assert.equal(links.find((a) => a.getAttribute('href'))?.getAttribute('rel'), 'noopener noreferrer');
  });

  test('markdown images are dropped (no remote loads from model output)', () => {
    assertInert(renderer.render('![x](https://tracker.example/pixel.png)'));
  });
});

describe('sanitiser (second barrier, applied to any HTML)', () => {
  test('removes scripts, event handlers, frames, styles and javascript: URLs', () => {
    const html = renderer.sanitize(
      '<p onclick="x()">ok</p><script>alert(1)</script><img src=x onerror=alert(1)><svg onload=alert(1)></svg>' +
        '<a href="javascript:alert(1)">l</a><iframe src="https://x"></iframe><style>body{}</style><div style="color:red">s</div>' +
        '<form action="https://x"><input></form><math><mi xlink:href="javascript:alert(1)">m</mi></math>',
    );
    assertInert(html);
    const doc = parse(html);
    assert.equal(doc.querySelector('p')?.textContent, 'ok');
    assert.equal(doc.querySelector('[style]'), null);
  });
});
