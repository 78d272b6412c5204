// OpenTelemetry spans from corral's diagnostics_channel events, without corral depending on
// OpenTelemetry: a span per loader call (`corral.load`), and the cache's answers (hit, miss,
// stale) as events on whatever span is active when `wrap` is called (your HTTP request's span).
//
//   import { trace } from '@opentelemetry/api'
//   const stop = traceCorral(trace.getTracer('corral'))   // once, at startup, after the OTel SDK
//
// Keys can hold personal data, so they are recorded only with `recordKeys: true`.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { type Span, SpanKind, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api'
import { CHANNEL_NAMES, type LoadEvent, type LockEvent, type MissEvent, type StaleEvent } from '../src/index.ts'

/** Where the span of a load is kept between its start and end events: on the event object itself. */
const SPAN = Symbol('otel span')

export interface TraceOptions {
  /** Put the cache key on spans and events as `corral.key`. Default false. */
  recordKeys?: boolean
}

/** Subscribes to corral's channels; returns a function that unsubscribes. */
export function traceCorral(tracer: Tracer, options: TraceOptions = {}): () => void {
  const keyOf = (key: string | undefined) => (options.recordKeys && key !== undefined ? { 'corral.key': key } : {})
  const handlers: Record<string, (message: unknown) => void> = {
    [CHANNEL_NAMES.loadStart]: (message) => {
      const event = message as LoadEvent
      event[SPAN] = tracer.startSpan(`corral.load ${event.cache}`, {
        kind: SpanKind.INTERNAL,
        attributes: {
          'corral.cache': event.cache,
          ...keyOf(event.key),
          ...(event.keys ? { 'corral.batch_size': event.keys.length } : {}),
        },
      })
    },
    [CHANNEL_NAMES.loadEnd]: (message) => {
      const event = message as LoadEvent
      const span = event[SPAN] as Span | undefined
      if (!span) return // subscribed between the start and the end of this load
      span.setAttribute('corral.outcome', event.outcome ?? 'success')
      if (event.error !== undefined) {
        if (event.error instanceof Error) span.recordException(event.error)
        span.setStatus({ code: SpanStatusCode.ERROR, message: event.outcome })
      }
      span.end()
    },
    [CHANNEL_NAMES.hit]: (message) => {
      const event = message as { cache: string; key: string; result: string }
      trace.getActiveSpan()?.addEvent('corral.hit', {
        'corral.cache': event.cache,
        'corral.result': event.result,
        ...keyOf(event.key),
      })
    },
    [CHANNEL_NAMES.miss]: (message) => {
      const event = message as MissEvent
      trace.getActiveSpan()?.addEvent('corral.miss', {
        'corral.cache': event.cache,
        'corral.coalesced': event.coalesced,
        ...keyOf(event.key),
      })
    },
    [CHANNEL_NAMES.stale]: (message) => {
      const event = message as StaleEvent
      trace.getActiveSpan()?.addEvent('corral.stale', {
        'corral.cache': event.cache,
        'corral.reason': event.reason,
        ...keyOf(event.key),
      })
    },
    [CHANNEL_NAMES.lock]: (message) => {
      const event = message as LockEvent
      trace.getActiveSpan()?.addEvent('corral.lock', {
        'corral.cache': event.cache,
        'corral.lock.outcome': event.outcome,
        'corral.lock.waited_ms': event.waitedMs,
        ...keyOf(event.key),
      })
    },
  }
  for (const [name, handler] of Object.entries(handlers)) subscribe(name, handler)
  return () => {
    for (const [name, handler] of Object.entries(handlers)) unsubscribe(name, handler)
  }
}
