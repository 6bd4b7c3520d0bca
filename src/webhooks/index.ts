export {
  type EventSink,
  KEYHAVEN_EVENT_TYPES,
  type KeyhavenEvent,
  type KeyhavenEventType,
} from './events.ts';
export { generateWebhookSecret, WEBHOOK_KEY_OWNER } from './secrets.ts';
export { createWebhookTransport, type SendOutcome, sendWebhook, type WebhookFetch } from './send.ts';
export {
  createWebhookService,
  isWebhookService,
  type WebhookAttempt,
  type WebhookAttemptReport,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookLogger,
  type WebhookService,
  type WebhookServiceOptions,
} from './service.ts';
export {
  DEFAULT_WEBHOOK_SETTINGS,
  retryDelayMs,
  type WebhookSettings,
  webhookSettingsFromEnv,
} from './settings.ts';
