import type { Histogram } from 'prom-client';
import { inSpan } from '../tracing.js';
import type { EventStore } from './eventStore.js';

/** Any event store, with a span and a latency histogram around each append. */
export const instrumentEventStore = (store: EventStore, appendDuration: Histogram): EventStore => ({
  ...store,
  appendToStream: (streamId, events, options) =>
    inSpan('eventstore.append', { attributes: { 'taskflow.stream': streamId, 'taskflow.events': events.length } }, async () => {
      const end = appendDuration.startTimer();
      try {
        return await store.appendToStream(streamId, events, options);
      } finally {
        end();
      }
    }),
});
