import { describe, it } from 'vitest';
import { createEventStoreDbEventStore } from '../../src/infra/eventstore/eventstoredb.js';
import { eventStoreContract } from './eventStore.contract.js';

const url = process.env.EVENTSTORE_URL;
const SKIP_REASON = 'EVENTSTORE_URL is not set: no EventStoreDB server on this machine';

if (url) {
  eventStoreContract('EventStoreDB', async () => {
    const eventStore = createEventStoreDbEventStore(url);
    return { eventStore, dispose: () => eventStore.close() };
  });
} else {
  console.log(`[EventStoreDB contract suite skipped] ${SKIP_REASON}`);
  describe.skip(`EventStore contract: EventStoreDB (${SKIP_REASON})`, () => {
    it('runs the shared event store contract against EventStoreDB', () => undefined);
  });
}
