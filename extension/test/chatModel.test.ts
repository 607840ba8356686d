import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  applyChatEvent,
  chipLabel,
  completeTurn,
  costLabel,
  discardedTexts,
  endTurn,
  formatLatency,
  historyFor,
  markFeedback,
  restoreTurns,
  routeLabel,
  speakingTier,
  startTurn,
  trailRows,
  visibleText,
  withheldLines,
  type ChatTurn,
} from '../src/chat/model';
import type { Assistance, ChatEvent } from '../src/protocol';

const ev = (e: Omit<ChatEvent, 'chatId'>): ChatEvent => ({ chatId: 'c1', ...e });

function stream(events: Omit<ChatEvent, 'chatId'>[]): ChatTurn {
  return events.reduce((turn, e) => applyChatEvent(turn, ev(e)), startTurn('c1', 'Explain this'));
}

const result: Assistance = {
  answer: 'final **answer**',
  accepted: true,
  finalTier: 'senior',
  route: { domain: 'general', intent: 'explain', confidence: 0.9, decidedBy: 'offline' },
  attempts: [
    { tier: 'lead', model: 'm1', outcome: 'rejected', reason: 'empty answer', latencyMs: 850 },
    { tier: 'senior', model: 'm2', outcome: 'accepted', latencyMs: 12345 },
  ],
};

describe('chat transcript reducer', () => {
  test('streams text of the current tier', () => {
    const turn = stream([
      { kind: 'attemptStarted', tier: 'lead', model: 'm1' },
      { kind: 'text', tier: 'lead', text: 'Hel' },
      { kind: 'text', tier: 'lead', text: 'lo' },
    ]);
    assert.equal(visibleText(turn), 'Hello');
    assert.equal(speakingTier(turn), 'lead');
    assert.deepEqual(trailRows(turn).map((r) => r.outcome), ['running']);
  });

  test('a rejected attempt is replaced by the next tier, and kept in the trail', () => {
    const turn = stream([
      { kind: 'attemptStarted', tier: 'lead', model: 'm1' },
      { kind: 'text', tier: 'lead', text: 'I cannot help' },
      { kind: 'attemptFinished', tier: 'lead', attempt: { tier: 'lead', model: 'm1', outcome: 'rejected', reason: 'refusal', latencyMs: 420 } },
      { kind: 'attemptStarted', tier: 'senior', model: 'm2' },
      { kind: 'text', tier: 'senior', text: 'Sure' },
    ]);
    assert.equal(visibleText(turn), 'Sure');
    assert.equal(speakingTier(turn), 'senior');
    assert.deepEqual(trailRows(turn), [
      { tier: 'lead', model: 'm1', outcome: 'rejected', reason: 'refusal', fix: '', latency: '420 ms' },
      { tier: 'senior', model: 'm2', outcome: 'running', reason: '', fix: '', latency: '' },
    ]);
  });

  test('text stopped while streaming is shown as discarded with its reason, never as the answer', () => {
    const loop = 'The same line.\n'.repeat(8);
    const reason = "generation loop: only 1 distinct of 8 lines ('The same line.' 8 times) (stopped after 2.1 s, 80 tokens)";
    let turn = stream([
      { kind: 'attemptStarted', tier: 'lead', model: 'm1' },
      { kind: 'text', tier: 'lead', text: loop },
      { kind: 'attemptFinished', tier: 'lead', discarded: true, attempt: { tier: 'lead', model: 'm1', outcome: 'rejected', reason, stoppedEarly: true, completionTokens: 80 } },
    ]);
    assert.equal(visibleText(turn), '', 'the loop is no longer shown as the answer');
    assert.deepEqual(discardedTexts(turn), [{ tier: 'lead', text: loop, label: `discarded: stopped while streaming: ${reason}`, stoppedEarly: true }]);
    turn = applyChatEvent(turn, ev({ kind: 'attemptStarted', tier: 'senior', model: 'm2' }));
    turn = applyChatEvent(turn, ev({ kind: 'text', tier: 'senior', text: 'Sure' }));
    assert.equal(visibleText(turn), 'Sure');
    assert.equal(discardedTexts(turn).length, 1);
    const done = completeTurn(turn, { ...result, answer: 'Sure', attempts: [] });
    assert.deepEqual(discardedTexts(done).map((d) => d.tier), ['lead']);
  });

  test('a rejected answer is discarded unless it is the best answer returned when no tier passed', () => {
    const turn = stream([
      { kind: 'attemptStarted', tier: 'lead', model: 'm1' },
      { kind: 'text', tier: 'lead', text: 'def f(:' },
      { kind: 'attemptFinished', tier: 'lead', attempt: { tier: 'lead', model: 'm1', outcome: 'rejected', reason: 'does not parse' } },
      { kind: 'attemptStarted', tier: 'senior', model: 'm2' },
      { kind: 'text', tier: 'senior', text: 'loop loop' },
      { kind: 'attemptFinished', tier: 'senior', discarded: true, attempt: { tier: 'senior', model: 'm2', outcome: 'rejected', reason: 'generation loop', stoppedEarly: true } },
    ]);
    assert.deepEqual(discardedTexts(turn).map((d) => d.label), ['discarded: does not parse', 'discarded: stopped while streaming: generation loop']);
    const done = completeTurn(turn, { ...result, accepted: false, finalTier: 'lead', answer: 'def f(:' });
    assert.deepEqual(discardedTexts(done).map((d) => [d.tier, d.stoppedEarly]), [['senior', true]]);
    assert.equal(visibleText(done), 'def f(:');
  });

  test('text without attemptStarted opens a segment; events of other chats are ignored', () => {
    let turn = stream([{ kind: 'text', tier: 'lead', text: 'x' }]);
    assert.equal(visibleText(turn), 'x');
    const other = applyChatEvent(turn, { chatId: 'c2', kind: 'text', tier: 'lead', text: 'zzz' });
    assert.equal(other, turn);
    turn = applyChatEvent(turn, ev({ kind: 'text', tier: 'lead', text: 'y' }));
    assert.equal(visibleText(turn), 'xy');
  });

  test('the result replaces the streamed text and carries the route and attempts', () => {
    const done = completeTurn(stream([{ kind: 'text', tier: 'senior', text: 'partial' }]), result);
    assert.equal(done.status, 'done');
    assert.equal(visibleText(done), 'final **answer**');
    assert.equal(speakingTier(done), 'senior');
    assert.equal(routeLabel(done), 'general · explain');
    assert.deepEqual(trailRows(done).map((r) => [r.tier, r.outcome, r.latency]), [
      ['lead', 'rejected', '850 ms'],
      ['senior', 'accepted', '12.3 s'],
    ]);
  });

  test('the result carries the sources of retrieved code', () => {
    const source = { path: 'app/billing.py', startLine: 6, endLine: 8, uri: 'file:///ws/app/billing.py' };
    const done = completeTurn(stream([]), { ...result, sources: [source] });
    assert.deepEqual(done.sources, [source]);
    assert.deepEqual(completeTurn(stream([]), result).sources, []);
  });

  test('after Stop, later events and a late result change nothing', () => {
    const stopped = endTurn(stream([{ kind: 'text', tier: 'lead', text: 'abc' }]), 'cancelled');
    assert.equal(stopped.status, 'cancelled');
    assert.equal(applyChatEvent(stopped, ev({ kind: 'text', tier: 'lead', text: 'more' })), stopped);
    assert.equal(completeTurn(stopped, result), stopped);
    assert.equal(visibleText(stopped), 'abc');
  });

  test('history holds finished turns only, oldest first, bounded', () => {
    const turns = [1, 2, 3].map((i) => completeTurn(startTurn(`c${i}`, `q${i}`), { ...result, answer: `a${i}` }));
    turns.push(startTurn('c4', 'q4'));
    assert.deepEqual(historyFor(turns, 2), [
      { role: 'user', content: 'q2' },
      { role: 'assistant', content: 'a2' },
      { role: 'user', content: 'q3' },
      { role: 'assistant', content: 'a3' },
    ]);
  });

  test('restoring drops junk, bounds the size and marks unfinished turns cancelled', () => {
    const restored = restoreTurns([{ nope: 1 }, startTurn('a', 'q'), completeTurn(startTurn('b', 'q'), result)], 5);
    assert.deepEqual(restored.map((t) => [t.chatId, t.status]), [['a', 'cancelled'], ['b', 'done']]);
    assert.deepEqual(restoreTurns('garbage'), []);
    assert.equal(restoreTurns(Array.from({ length: 9 }, (_, i) => startTurn(`t${i}`, 'q')), 3).length, 3);
  });

  test('latency and chip labels', () => {
    assert.equal(formatLatency(undefined), '');
    assert.equal(formatLatency(0), '0 ms');
    assert.equal(formatLatency(999.4), '999 ms');
    assert.equal(formatLatency(1500), '1.5 s');
    assert.equal(chipLabel('a.py'), 'a.py');
    assert.equal(chipLabel('a.py', { start: { line: 2, character: 0 }, end: { line: 2, character: 5 } }), 'a.py:3');
    assert.equal(chipLabel('a.py', { start: { line: 2, character: 0 }, end: { line: 8, character: 0 } }), 'a.py:3-8');
    assert.equal(chipLabel('a.py', { start: { line: 2, character: 0 }, end: { line: 8, character: 1 } }), 'a.py:3-9');
  });
});

describe('frontier answers', () => {
  test('the cost and what was withheld come from the result', () => {
    const frontier: Assistance = {
      ...result,
      finalTier: 'frontier',
      costUsd: 0.00042,
      withheld: [
        { source: 'app/settings.py', action: 'redacted', reason: '2 secrets: AWS Access Key, GitHub Token' },
        { source: '.env', action: 'removed', reason: "matches '.env*' (placement.withhold)" },
      ],
    };
    const turn = completeTurn(startTurn('c1', 'Fix it'), frontier);
    assert.equal(costLabel(turn), '$0.0004');
    assert.deepEqual(withheldLines(turn), [
      'app/settings.py: redacted (2 secrets: AWS Access Key, GitHub Token)',
      ".env: removed (matches '.env*' (placement.withhold))",
    ]);
  });

  test('a local answer shows no cost and nothing withheld', () => {
    const turn = completeTurn(startTurn('c1', 'Explain'), result);
    assert.equal(costLabel(turn), undefined);
    assert.deepEqual(withheldLines(turn), []);
  });
});

describe('team memory on a turn', () => {
  test('a finished turn keeps the request id and the cached flag; helpful/unhelpful marks it', () => {
    const done = completeTurn(startTurn('c1', 'Explain this'), { ...result, cached: true, requestId: 'r1' });
    assert.equal(done.requestId, 'r1');
    assert.equal(done.cached, true);
    assert.equal(markFeedback(done, 'unhelpful').feedback, 'unhelpful');
    assert.equal(markFeedback(done, 'inserted'), done);
    assert.equal(markFeedback(startTurn('c2', 'x'), 'helpful').feedback, undefined);
  });
});
