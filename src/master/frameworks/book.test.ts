import assert from 'node:assert/strict';
import { test } from 'node:test';
import { offer, resources } from '../../../test/fixtures.js';
import { DEFAULT_REFUSE_SECONDS, MAX_REFUSE_SECONDS, OfferBook, refuseMs } from './book.js';

const NOW = 1_000_000;

/** booked is a book holding fw-a's offers on agent-0 and agent-1 and fw-b's on agent-2, made at NOW. */
function booked(options: ConstructorParameters<typeof OfferBook>[0] = {}): OfferBook {
  const book = new OfferBook(options);
  book.add(
    [
      offer({ offerId: 'o-1', frameworkId: 'fw-a', agentId: 'agent-0' }),
      offer({ offerId: 'o-2', frameworkId: 'fw-a', agentId: 'agent-1' }),
      offer({ offerId: 'o-3', frameworkId: 'fw-b', agentId: 'agent-2' }),
    ],
    NOW,
  );
  return book;
}

const ids = (offers: readonly { offerId: string }[]): string[] => offers.map((o) => o.offerId);

// ---- add and the indexes -------------------------------------------------------------------------

void test('add() books offers by id, framework and agent, with when they were made and time out', () => {
  const book = booked({ offerTimeoutMs: 10_000 });
  assert.equal(book.size, 3);
  assert.deepEqual(book.get('o-1'), { ...offer({ offerId: 'o-1', frameworkId: 'fw-a', agentId: 'agent-0' }), offeredAt: NOW, expiresAt: NOW + 10_000 });
  assert.deepEqual(ids(book.outstanding('fw-a')), ['o-1', 'o-2']);
  assert.deepEqual(ids(book.outstanding('fw-b')), ['o-3']);
  assert.deepEqual(book.outstanding('fw-unknown'), []);
  assert.equal(book.offeredOn('agent-2')?.offerId, 'o-3');
  assert.equal(book.offeredOn('agent-9'), undefined);
});

void test('add() without an offer timeout books offers that never time out', () => {
  const book = booked();
  const o = book.get('o-1');
  assert.equal(o?.offeredAt, NOW);
  assert.equal(o !== undefined && 'expiresAt' in o, false);
  assert.deepEqual(book.expire(Number.MAX_SAFE_INTEGER), []);
  assert.equal(book.size, 3);
});

void test('add() refuses an agent that already has an outstanding offer, and books nothing of the batch', () => {
  const book = booked();
  assert.throws(
    () => book.add([offer({ offerId: 'o-4', frameworkId: 'fw-b', agentId: 'agent-3' }), offer({ offerId: 'o-5', frameworkId: 'fw-b', agentId: 'agent-0' })], NOW),
    /agent agent-0 is already in offer o-1 to framework fw-a/,
  );
  assert.equal(book.size, 3);
  assert.equal(book.offeredOn('agent-3'), undefined);
  assert.deepEqual(ids(book.outstanding('fw-b')), ['o-3']);
});

void test('add() refuses one agent in two offers of a batch, and an offer id booked or given twice', () => {
  const book = new OfferBook();
  assert.throws(() => book.add([offer({ offerId: 'o-1' }), offer({ offerId: 'o-2', frameworkId: 'other' })], NOW), /agent agent-0 is in two offers/);
  assert.throws(() => book.add([offer({ offerId: 'o-1', agentId: 'a' }), offer({ offerId: 'o-1', agentId: 'b' })], NOW), /offer o-1 is already booked/);
  assert.equal(book.size, 0);
  book.add([offer({ offerId: 'o-1', agentId: 'a' })], NOW);
  assert.throws(() => book.add([offer({ offerId: 'o-1', agentId: 'b' })], NOW), /offer o-1 is already booked/);
  assert.equal(book.size, 1);
});

void test('add() books an agent again once its offer is out of the book', () => {
  const book = booked();
  assert.equal(book.accept('fw-a', ['o-1'], NOW).ok, true);
  book.add([offer({ offerId: 'o-4', frameworkId: 'fw-b', agentId: 'agent-0' })], NOW + 1);
  assert.equal(book.offeredOn('agent-0')?.offerId, 'o-4');
  assert.equal(book.offeredOn('agent-0')?.offeredAt, NOW + 1);
});

// ---- accept --------------------------------------------------------------------------------------

void test('accept() hands the framework its offer and takes it out of the book: an offer is used once', () => {
  const book = booked();
  const result = book.accept('fw-a', ['o-2'], NOW);
  assert.equal(result.ok, true);
  assert.deepEqual(result.ok && ids(result.offers), ['o-2']);
  assert.equal(book.size, 2);
  assert.equal(book.get('o-2'), undefined);
  assert.equal(book.offeredOn('agent-1'), undefined);
  assert.deepEqual(ids(book.outstanding('fw-a')), ['o-1']);
  const again = book.accept('fw-a', ['o-2'], NOW);
  assert.equal(!again.ok && again.code, 'OFFER_NOT_FOUND');
});

void test('accept() refuses an unknown offer and changes nothing', () => {
  const book = booked();
  const result = book.accept('fw-a', ['o-1', 'o-9'], NOW);
  assert.deepEqual(result, {
    ok: false,
    code: 'OFFER_NOT_FOUND',
    message: 'offer o-9 is not outstanding: unknown, already accepted or declined, rescinded, or timed out',
  });
  assert.equal(book.size, 3);
  assert.equal(book.get('o-1')?.frameworkId, 'fw-a');
});

void test('accept() refuses another framework\'s offer and leaves it to its framework', () => {
  const book = booked();
  assert.deepEqual(book.accept('fw-b', ['o-1'], NOW), { ok: false, code: 'OFFER_NOT_YOURS', message: 'offer o-1 was not made to framework fw-b' });
  assert.equal(book.size, 3);
  assert.equal(book.accept('fw-a', ['o-1'], NOW).ok, true);
});

void test('accept() refuses an offer named twice', () => {
  const book = booked();
  const result = book.accept('fw-a', ['o-1', 'o-1'], NOW);
  assert.equal(!result.ok && result.code, 'DUPLICATE_OFFER');
  assert.equal(book.size, 3);
});

void test('accept() refuses offers on two agents, keeping both', () => {
  const book = booked();
  const result = book.accept('fw-a', ['o-1', 'o-2'], NOW);
  assert.equal(!result.ok && result.code, 'OFFERS_ON_DIFFERENT_AGENTS');
  assert.match(!result.ok ? result.message : '', /agents agent-0 and agent-1/);
  assert.deepEqual(ids(book.outstanding('fw-a')), ['o-1', 'o-2']);
});

void test('accept() refuses an ACCEPT that names no offers', () => {
  const result = booked().accept('fw-a', [], NOW);
  assert.equal(!result.ok && result.code, 'NO_OFFERS');
});

void test('accept() refuses an offer that has timed out, though expire() has not yet taken it', () => {
  const book = booked({ offerTimeoutMs: 1000 });
  assert.equal(book.accept('fw-a', ['o-1'], NOW + 999).ok, true);
  const late = book.accept('fw-a', ['o-2'], NOW + 1000);
  assert.equal(!late.ok && late.code, 'OFFER_NOT_FOUND');
  assert.equal(book.get('o-2')?.offerId, 'o-2');
});

// ---- decline and filters -------------------------------------------------------------------------

void test('refuseMs() follows Mesos: 5 s by default or when negative, capped at a year, none at 0', () => {
  assert.equal(refuseMs(undefined), DEFAULT_REFUSE_SECONDS * 1000);
  assert.equal(refuseMs(-1), 5000);
  assert.equal(refuseMs(Number.NaN), 5000);
  assert.equal(refuseMs(0), 0);
  assert.equal(refuseMs(2.5), 2500);
  assert.equal(refuseMs(1e12), MAX_REFUSE_SECONDS * 1000);
  assert.equal(refuseMs(Infinity), 31_536_000_000);
});

void test('decline() takes the framework\'s offers out and keeps their agents from it for refuseSeconds', () => {
  const book = booked();
  assert.deepEqual(ids(book.decline('fw-a', ['o-1', 'o-2'], 30, NOW)), ['o-1', 'o-2']);
  assert.equal(book.size, 1);
  assert.deepEqual(book.outstanding('fw-a'), []);
  assert.deepEqual([...book.declinedFor('fw-a', NOW)], [['agent-0', NOW + 30_000], ['agent-1', NOW + 30_000]]);
  assert.equal(book.declinedFor('fw-b', NOW).size, 0);
});

void test('decline() without refuseSeconds filters for 5 s, and with 0 filters nothing', () => {
  const book = booked();
  book.decline('fw-a', ['o-1'], undefined, NOW);
  book.decline('fw-a', ['o-2'], 0, NOW);
  assert.deepEqual([...book.declinedFor('fw-a', NOW)], [['agent-0', NOW + 5000]]);
  assert.equal(book.size, 1);
});

void test('decline() ignores unknown ids, another framework\'s offers and timed out ones', () => {
  const book = booked({ offerTimeoutMs: 1000 });
  assert.deepEqual(book.decline('fw-a', ['o-9', 'o-3'], 10, NOW), []);
  assert.deepEqual(book.decline('fw-a', ['o-1'], 10, NOW + 1000), []);
  assert.equal(book.size, 3);
  assert.equal(book.declinedFor('fw-a', NOW).size, 0);
  // Declined twice in one call: once.
  assert.deepEqual(ids(book.decline('fw-b', ['o-3', 'o-3'], 10, NOW)), ['o-3']);
});

void test('a shorter filter does not cut a longer one short', () => {
  const book = new OfferBook();
  book.filterAfterAccept('fw-a', 'agent-0', 60, NOW);
  book.filterAfterAccept('fw-a', 'agent-0', 1, NOW + 1000);
  assert.equal(book.declinedFor('fw-a', NOW + 1000).get('agent-0'), NOW + 60_000);
  book.filterAfterAccept('fw-a', 'agent-0', 120, NOW + 1000);
  assert.equal(book.declinedFor('fw-a', NOW + 1000).get('agent-0'), NOW + 121_000);
});

void test('filterAfterAccept() keeps the agent from the framework as a decline would', () => {
  const book = booked();
  assert.equal(book.accept('fw-a', ['o-1'], NOW).ok, true);
  book.filterAfterAccept('fw-a', 'agent-0', undefined, NOW);
  book.filterAfterAccept('fw-a', 'agent-1', 0, NOW);
  assert.deepEqual([...book.declinedFor('fw-a', NOW)], [['agent-0', NOW + 5000]]);
});

void test('declinedFor() drops filters that have ended', () => {
  const book = new OfferBook();
  book.filterAfterAccept('fw-a', 'agent-0', 1, NOW);
  book.filterAfterAccept('fw-a', 'agent-1', 2, NOW);
  assert.equal(book.declinedFor('fw-a', NOW + 999).size, 2);
  assert.deepEqual([...book.declinedFor('fw-a', NOW + 1000)], [['agent-1', NOW + 2000]]);
  assert.equal(book.declinedFor('fw-a', NOW + 2000).size, 0);
  assert.equal(book.declinedFor('fw-unknown', NOW).size, 0);
});

void test('a framework holds at most maxFilters filters: ended ones go first, then the oldest', () => {
  const book = new OfferBook({ maxFilters: 3 });
  book.filterAfterAccept('fw-a', 'agent-0', 100, NOW);
  book.filterAfterAccept('fw-a', 'agent-1', 1, NOW);
  book.filterAfterAccept('fw-a', 'agent-2', 100, NOW);
  // agent-1's filter has ended by then: it makes room.
  book.filterAfterAccept('fw-a', 'agent-3', 100, NOW + 1000);
  assert.deepEqual([...book.declinedFor('fw-a', NOW + 1000).keys()], ['agent-0', 'agent-2', 'agent-3']);
  // None has ended: the oldest goes.
  book.filterAfterAccept('fw-a', 'agent-4', 100, NOW + 1000);
  assert.deepEqual([...book.declinedFor('fw-a', NOW + 1000).keys()], ['agent-2', 'agent-3', 'agent-4']);
  // Extending one is no new filter.
  book.filterAfterAccept('fw-a', 'agent-2', 200, NOW + 1000);
  assert.deepEqual([...book.declinedFor('fw-a', NOW + 1000).keys()], ['agent-3', 'agent-4', 'agent-2']);
  // Other frameworks have their own.
  book.filterAfterAccept('fw-b', 'agent-0', 100, NOW);
  assert.equal(book.declinedFor('fw-a', NOW + 1000).size, 3);
});

void test('the default bound on filters holds against a framework that declines without end', () => {
  const book = new OfferBook();
  for (let i = 0; i < 100_010; i++) book.filterAfterAccept('fw-a', `agent-${i}`, 3600, NOW);
  const filters = book.declinedFor('fw-a', NOW);
  assert.equal(filters.size, 100_000);
  assert.equal(filters.has('agent-9'), false);
  assert.equal(filters.has('agent-100009'), true);
});

// ---- suppress and revive -------------------------------------------------------------------------

void test('suppress() marks the framework as wanting no offers, and keeps its outstanding ones', () => {
  const book = booked();
  assert.equal(book.isSuppressed('fw-a'), false);
  book.suppress('fw-a');
  assert.equal(book.isSuppressed('fw-a'), true);
  assert.equal(book.isSuppressed('fw-b'), false);
  assert.deepEqual(ids(book.outstanding('fw-a')), ['o-1', 'o-2']);
});

void test('revive() ends suppression and clears all the framework\'s filters', () => {
  const book = booked();
  book.decline('fw-a', ['o-1'], 60, NOW);
  book.decline('fw-b', ['o-3'], 60, NOW);
  book.suppress('fw-a');
  book.revive('fw-a');
  assert.equal(book.isSuppressed('fw-a'), false);
  assert.equal(book.declinedFor('fw-a', NOW).size, 0);
  assert.equal(book.declinedFor('fw-b', NOW).size, 1);
  // Reviving a framework with nothing to clear is harmless.
  book.revive('fw-unknown');
});

// ---- rescind and expire --------------------------------------------------------------------------

void test('rescindAgent() takes the agent\'s offer out and returns it', () => {
  const book = booked();
  assert.deepEqual(ids(book.rescindAgent('agent-1')), ['o-2']);
  assert.deepEqual(book.rescindAgent('agent-1'), []);
  assert.deepEqual(book.rescindAgent('agent-9'), []);
  assert.equal(book.size, 2);
  assert.equal(book.offeredOn('agent-1'), undefined);
  assert.deepEqual(ids(book.outstanding('fw-a')), ['o-1']);
  const late = book.accept('fw-a', ['o-2'], NOW);
  assert.equal(!late.ok && late.code, 'OFFER_NOT_FOUND');
});

void test('rescindFramework() takes all the framework\'s offers out, keeping its filters and suppression', () => {
  const book = booked();
  book.suppress('fw-a');
  book.filterAfterAccept('fw-a', 'agent-5', 60, NOW);
  assert.deepEqual(ids(book.rescindFramework('fw-a')), ['o-1', 'o-2']);
  assert.deepEqual(book.rescindFramework('fw-a'), []);
  assert.equal(book.size, 1);
  assert.equal(book.offeredOn('agent-0'), undefined);
  assert.equal(book.offeredOn('agent-2')?.offerId, 'o-3');
  assert.equal(book.isSuppressed('fw-a'), true);
  assert.equal(book.declinedFor('fw-a', NOW).size, 1);
});

void test('forget() drops a gone framework\'s offers, filters and suppression', () => {
  const book = booked();
  book.suppress('fw-a');
  book.decline('fw-a', ['o-1'], 60, NOW);
  assert.deepEqual(ids(book.forget('fw-a')), ['o-2']);
  assert.equal(book.isSuppressed('fw-a'), false);
  assert.equal(book.declinedFor('fw-a', NOW).size, 0);
  assert.equal(book.size, 1);
});

void test('expire() takes out and returns the offers timed out at now', () => {
  const book = new OfferBook({ offerTimeoutMs: 1000 });
  book.add([offer({ offerId: 'o-1', agentId: 'agent-0' })], NOW);
  book.add([offer({ offerId: 'o-2', agentId: 'agent-1' })], NOW + 500);
  assert.deepEqual(book.expire(NOW + 999), []);
  assert.deepEqual(ids(book.expire(NOW + 1000)), ['o-1']);
  assert.equal(book.offeredOn('agent-0'), undefined);
  assert.deepEqual(ids(book.outstanding('muster')), ['o-2']);
  assert.deepEqual(ids(book.expire(NOW + 5000)), ['o-2']);
  assert.equal(book.size, 0);
  assert.deepEqual(book.outstanding('muster'), []);
});

// ---- what is out ---------------------------------------------------------------------------------

void test('offeredResources() sums the framework\'s outstanding offers, and offeredScalars() keeps the same sum without ports', () => {
  const book = new OfferBook();
  book.add(
    [
      offer({ offerId: 'o-1', frameworkId: 'fw-a', agentId: 'agent-0', resources: 'cpus:1.5;mem:1GiB;ports:[31000-31009]' }),
      offer({ offerId: 'o-2', frameworkId: 'fw-a', agentId: 'agent-1', resources: 'cpus:2;gpus:1;ports:[31010-31019]' }),
      offer({ offerId: 'o-3', frameworkId: 'fw-b', agentId: 'agent-2', resources: 'cpus:8' }),
    ],
    NOW,
  );
  assert.deepEqual(book.offeredResources('fw-a'), resources('cpus:3.5;mem:1GiB;gpus:1;ports:[31000-31019]'));
  assert.deepEqual(book.offeredResources('fw-b'), resources('cpus:8'));
  assert.deepEqual(book.offeredResources('fw-none'), resources());
  assert.deepEqual(book.offeredScalars('fw-a'), resources('cpus:3.5;mem:1GiB;gpus:1'));
  book.rescindAgent('agent-1');
  assert.deepEqual(book.offeredResources('fw-a'), resources('cpus:1.5;mem:1GiB;ports:[31000-31009]'));
  assert.deepEqual(book.offeredScalars('fw-a'), resources('cpus:1.5;mem:1GiB'));
  assert.deepEqual(book.accept('fw-a', ['o-1'], NOW).ok, true);
  assert.deepEqual(book.offeredScalars('fw-a'), resources(), 'nothing out, nothing held');
  assert.deepEqual(book.offeredScalars('fw-b'), resources('cpus:8'));
});

void test('the constructor refuses an offer timeout or filter bound that is not positive', () => {
  assert.throws(() => new OfferBook({ offerTimeoutMs: 0 }), /offerTimeoutMs/);
  assert.throws(() => new OfferBook({ offerTimeoutMs: Number.NaN }), /offerTimeoutMs/);
  assert.throws(() => new OfferBook({ maxFilters: 0 }), /maxFilters/);
});
