import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { applyCompletion, mentionCompletions } from '../src/chat/mentions';

const FILES = ['src/app/billing.py', 'src/app/shipping.py', 'README.md'];

describe('@-mention completion', () => {
  test('a lone @ offers the mention keywords, filtered by what is typed', () => {
    assert.deepEqual(mentionCompletions('where is @', 10, FILES)?.items, ['@codebase ', '@file ', '@symbol ']);
    const typed = mentionCompletions('where is @co', 12, FILES);
    assert.deepEqual(typed, { replaceFrom: 9, items: ['@codebase '] });
    assert.ok(typed);
    assert.deepEqual(applyCompletion('where is @co', 12, typed, '@codebase '), { text: 'where is @codebase ', caret: 19 });
  });

  test('@file completes workspace paths by substring', () => {
    const text = 'explain @file ship';
    const found = mentionCompletions(text, text.length, FILES);
    assert.deepEqual(found, { replaceFrom: 14, items: ['src/app/shipping.py '] });
    assert.ok(found);
    assert.equal(applyCompletion(text, text.length, found, 'src/app/shipping.py ').text, 'explain @file src/app/shipping.py ');
  });

  test('no completion outside a mention or inside an e-mail address', () => {
    assert.equal(mentionCompletions('hello world', 11, FILES), undefined);
    assert.equal(mentionCompletions('me@co', 5, FILES), undefined);
    assert.equal(mentionCompletions('@xyz', 4, FILES), undefined);
  });
});
