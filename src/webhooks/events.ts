/**
 * The events Keyhaven tells an application about. Producers (the video worker, the gateway, the
 * credential routes) hand them to an EventSink; the webhook service signs and delivers them.
 */
export const KEYHAVEN_EVENT_TYPES = [
  'video.succeeded',
  'video.failed',
  'credential.invalid',
  'budget.threshold',
  'budget.exceeded',
] as const;

export type KeyhavenEventType = (typeof KEYHAVEN_EVENT_TYPES)[number];

export interface KeyhavenEvent {
  type: KeyhavenEventType;
  /** The user the event is about. */
  userId: string;
  /** Plain data, never a secret. */
  data: Record<string, unknown>;
  /** A per-job URL to deliver this event to, in addition to the registered endpoints. */
  webhookUrl?: string;
}

export interface EventSink {
  /** Records the event durably (deliveries happen later, with retries); resolves once it is recorded. */
  emit(event: KeyhavenEvent): Promise<void>;
}
