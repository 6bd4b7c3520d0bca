import {
  ApiError,
  type CredentialField,
  type CredentialSummary,
  createClient,
  type KeyhavenClient,
  type ProviderInfo,
} from './api.ts';
import { styles } from './styles.ts';

/**
 * <keyhaven-keys base-url="https://keys.example.com" user-id="alice"></keyhaven-keys>, with the user's
 * token (khu_...) as the `token` property (or attribute). Lists the providers with the user's credential
 * status and lets the user add, test, rotate and delete their own keys. Secrets go one way: typed into a
 * form, sent once, cleared; the component never receives one back.
 *
 * Events (bubbling, composed): `keyhaven-change` {provider, action: 'stored'|'tested'|'deleted', status},
 * `keyhaven-unauthorized` {status} when the token is refused or expired (mint a new one and set `token`).
 */
type Attributes = Record<string, string | boolean | undefined>;

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name === 'className') element.className = String(value);
    else element.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) element.append(child);
  }
  return element;
}

const STATUS_LABELS = {
  valid: 'Valid',
  invalid: 'Invalid',
  unverified: 'Not verified',
  none: 'Not connected',
  retired: 'Retired',
} as const;

const relativeTime = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const absoluteTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function timeElement(iso: string | null, never: string): HTMLElement {
  if (iso === null) return h('span', {}, never);
  const date = new Date(iso);
  const seconds = Math.round((date.getTime() - Date.now()) / 1000);
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ['year', 31_536_000],
    ['month', 2_592_000],
    ['day', 86_400],
    ['hour', 3_600],
    ['minute', 60],
  ];
  let text = relativeTime.format(0, 'second');
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) {
      text = relativeTime.format(Math.round(seconds / size), unit);
      break;
    }
  }
  if (Math.abs(seconds) < 60) text = 'just now';
  return h('time', { datetime: date.toISOString(), title: absoluteTime.format(date) }, text);
}

function isMultiline(field: CredentialField): boolean {
  return /json/i.test(field.label) || /serviceaccount/i.test(field.name);
}

let instances = 0;

/** One provider's card: built once, updated in place so focus and typed text survive a refresh. */
class ProviderCard {
  readonly element: HTMLLIElement;
  private readonly provider: ProviderInfo;
  private readonly host: KeyhavenKeys;
  private readonly prefix: string;
  private summary: CredentialSummary | undefined;
  private readonly badge: HTMLSpanElement;
  private readonly details: HTMLDListElement;
  private readonly reason: HTMLParagraphElement;
  private readonly actions: HTMLDivElement;
  private readonly form: HTMLFormElement;
  private readonly formError: HTMLParagraphElement;
  private readonly submit: HTMLButtonElement;
  private readonly inputs = new Map<string, HTMLInputElement | HTMLTextAreaElement>();
  private readonly confirm: HTMLDivElement;
  private busy = false;
  /** The button that opened the form or confirmation: focus goes back to it (or its successor). */
  private opener: 'add' | 'rotate' | 'delete' | undefined;

  constructor(host: KeyhavenKeys, provider: ProviderInfo, prefix: string) {
    this.host = host;
    this.provider = provider;
    this.prefix = `${prefix}-${provider.id}`;
    const headingId = `${this.prefix}-name`;
    this.badge = h('span', { className: 'badge', part: 'badge' });
    this.details = h('dl', { className: 'details', part: 'details' });
    this.reason = h('p', { className: 'reason', part: 'reason', hidden: true });
    this.actions = h('div', { className: 'actions', part: 'actions' });
    this.formError = h('p', { className: 'form-error', id: `${this.prefix}-error`, role: 'alert' });
    this.submit = h('button', { type: 'submit', className: 'primary', part: 'button button-primary' });
    this.form = this.buildForm(headingId);
    this.confirm = this.buildConfirm(headingId);
    const icon = h('img', {
      src: `data:image/svg+xml,${encodeURIComponent(provider.icon)}`,
      alt: '',
      width: '32',
      height: '32',
    });
    this.element = h(
      'li',
      { className: 'provider', part: 'provider', 'data-provider': provider.id, 'aria-labelledby': headingId },
      h('div', { className: 'head' }, icon, h('h3', { id: headingId }, provider.displayName), this.badge),
      h('p', { className: 'description' }, provider.description),
      this.details,
      this.reason,
      this.actions,
      this.form,
      this.confirm,
    );
    this.element.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && (!this.form.hidden || !this.confirm.hidden)) {
        event.preventDefault();
        this.close();
      }
    });
  }

  private buildForm(headingId: string): HTMLFormElement {
    const fields = this.provider.credentialFields.map((field) => {
      const id = `${this.prefix}-${field.name}`;
      const hintId = `${id}-hint`;
      const common = {
        id,
        name: field.name,
        part: 'input',
        autocomplete: 'off',
        spellcheck: 'false',
        autocapitalize: 'off',
        'aria-describedby': [field.description ? hintId : undefined, `${this.prefix}-error`]
          .filter(Boolean)
          .join(' '),
        'aria-required': field.optional ? undefined : 'true',
      };
      const input = isMultiline(field)
        ? h('textarea', common)
        : h('input', { ...common, type: field.secret ? 'password' : 'text' });
      this.inputs.set(field.name, input);
      return h(
        'div',
        { className: 'field' },
        h(
          'label',
          { for: id, part: 'label' },
          field.label,
          field.optional ? h('span', { className: 'optional' }, ' (optional)') : null,
        ),
        input,
        field.description ? h('span', { className: 'hint', id: hintId }, field.description) : null,
      );
    });
    const cancel = h('button', { type: 'button', part: 'button' }, 'Cancel');
    cancel.addEventListener('click', () => this.close());
    const form = h(
      'form',
      { part: 'form', hidden: true, novalidate: true, 'aria-labelledby': headingId },
      ...fields,
      this.formError,
      h('div', { className: 'actions' }, this.submit, cancel),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.save();
    });
    return form;
  }

  private buildConfirm(headingId: string): HTMLDivElement {
    const questionId = `${this.prefix}-confirm`;
    const yes = h(
      'button',
      { type: 'button', className: 'danger', part: 'button button-danger' },
      'Delete key',
    );
    const no = h('button', { type: 'button', part: 'button' }, 'Keep key');
    yes.addEventListener('click', () => void this.remove());
    no.addEventListener('click', () => this.close());
    return h(
      'div',
      {
        className: 'confirm',
        part: 'confirm',
        role: 'group',
        'aria-labelledby': `${headingId} ${questionId}`,
        hidden: true,
      },
      h(
        'p',
        { id: questionId },
        `Delete your ${this.provider.displayName} key? Keyhaven will no longer be able to use ${this.provider.displayName} for you until you add a key again.`,
      ),
      h('div', { className: 'actions' }, yes, no),
    );
  }

  update(summary: CredentialSummary | undefined): void {
    this.summary = summary;
    const retired = this.provider.status.state === 'retired';
    const state = retired ? 'retired' : summary?.connected && summary.status ? summary.status : 'none';
    this.badge.dataset.status = state;
    this.badge.setAttribute('part', `badge badge-${state}`);
    this.badge.textContent = STATUS_LABELS[state];

    this.details.replaceChildren();
    if (summary?.connected) {
      this.details.append(
        h('dt', {}, 'Key'),
        h('dd', {}, h('code', { className: 'masked' }, summary.maskedKey ?? '—')),
        h('dt', {}, 'Last used'),
        h('dd', {}, timeElement(summary.lastUsedAt, 'Never')),
        h('dt', {}, 'Last checked'),
        h('dd', {}, timeElement(summary.lastValidatedAt, 'Never')),
      );
    }
    this.details.hidden = !summary?.connected;
    const reason =
      retired && this.provider.status.state === 'retired'
        ? `Retired by the provider on ${this.provider.status.date}: ${this.provider.status.reason}`
        : summary?.connected && summary.status === 'invalid'
          ? `${this.provider.displayName} refused this key: ${summary.statusReason ?? 'no reason given'}`
          : '';
    this.reason.textContent = reason;
    this.reason.hidden = reason === '';
    this.renderActions();
  }

  private renderActions(): void {
    const name = this.provider.displayName;
    const button = (label: string, accessible: string, action: () => void, className?: string) => {
      const element = h(
        'button',
        {
          type: 'button',
          className,
          part: className ? `button button-${className}` : 'button',
          'aria-label': accessible,
          'data-action': label.toLowerCase().split(' ')[0],
        },
        label,
      );
      element.disabled = this.busy;
      element.addEventListener('click', action);
      return element;
    };
    const buttons: HTMLButtonElement[] = [];
    if (this.summary?.connected) {
      buttons.push(
        button('Test', `Test ${name} key`, () => void this.test()),
        button('Rotate key', `Rotate ${name} key`, () => this.open('rotate')),
        button('Delete', `Delete ${name} key`, () => this.open('delete'), 'danger'),
      );
    } else if (this.provider.status.state !== 'retired') {
      buttons.push(button('Add key', `Add ${name} key`, () => this.open('add'), 'primary'));
    }
    this.actions.replaceChildren(...buttons);
    this.actions.hidden = buttons.length === 0;
  }

  private open(kind: 'add' | 'rotate' | 'delete'): void {
    this.host.closeOthers(this);
    this.opener = kind;
    if (kind === 'delete') {
      this.form.hidden = true;
      this.confirm.hidden = false;
      this.confirm.querySelectorAll('button')[1]?.focus();
      return;
    }
    this.confirm.hidden = true;
    this.formError.textContent = '';
    for (const input of this.inputs.values()) input.removeAttribute('aria-invalid');
    this.submit.textContent = kind === 'add' ? 'Save key' : 'Save new key';
    this.form.hidden = false;
    this.inputs.values().next().value?.focus();
  }

  /** Closes the form or confirmation, clearing typed secrets, and returns focus to the card's actions. */
  close({ focus = true }: { focus?: boolean } = {}): void {
    const wasOpen = !this.form.hidden || !this.confirm.hidden;
    this.form.hidden = true;
    this.confirm.hidden = true;
    this.clearInputs();
    if (focus && wasOpen) this.focusAction();
    this.opener = undefined;
  }

  private focusAction(): void {
    const wanted = this.opener === 'rotate' ? 'rotate' : this.opener === 'delete' ? 'delete' : 'add';
    const buttons = [...this.actions.querySelectorAll('button')];
    (buttons.find((button) => button.dataset.action === wanted) ?? buttons[0])?.focus();
  }

  private clearInputs(): void {
    for (const input of this.inputs.values()) input.value = '';
  }

  private setBusy(busy: boolean): void {
    this.busy = busy;
    this.element.setAttribute('aria-busy', String(busy));
    for (const button of this.element.querySelectorAll('button')) button.disabled = busy;
  }

  private async save(): Promise<void> {
    if (this.busy) return;
    const credentials: Record<string, string> = {};
    let firstMissing: HTMLInputElement | HTMLTextAreaElement | undefined;
    for (const field of this.provider.credentialFields) {
      const input = this.inputs.get(field.name);
      if (!input) continue;
      const value = input.value.trim();
      const missing = !field.optional && value === '';
      input.setAttribute('aria-invalid', String(missing));
      if (missing) firstMissing ??= input;
      if (value !== '') credentials[field.name] = value;
    }
    if (firstMissing) {
      this.formError.textContent = 'Fill in the required fields.';
      firstMissing.focus();
      return;
    }
    if (Object.keys(credentials).length === 0) {
      this.formError.textContent = 'Fill in at least one field.';
      this.inputs.values().next().value?.focus();
      return;
    }
    const name = this.provider.displayName;
    const rotating = this.summary?.connected === true;
    this.formError.textContent = '';
    this.setBusy(true);
    this.host.announce(`Checking your ${name} key with ${name}…`);
    // The typed secret leaves the page once: the fields are empty before the answer arrives.
    this.clearInputs();
    try {
      const summary = await this.host.client().store(this.provider.id, credentials);
      this.setBusy(false);
      this.update(summary);
      this.close();
      this.host.announce(
        summary.status === 'valid'
          ? `${name} key ${rotating ? 'rotated' : 'saved'}. ${name} accepted it.`
          : `${name} key ${rotating ? 'rotated' : 'saved'}, status: ${STATUS_LABELS[summary.status ?? 'none']}.`,
        'success',
      );
      this.host.changed(this.provider.id, 'stored', summary.status);
    } catch (error) {
      this.setBusy(false);
      const message = this.host.explain(error);
      this.formError.textContent =
        error instanceof ApiError && error.code === 'credential_invalid'
          ? `${name} did not accept this key: ${error.message}`
          : message;
      for (const input of this.inputs.values()) input.setAttribute('aria-invalid', 'true');
      this.host.announce(`${name} key not saved.`, 'error');
      this.inputs.values().next().value?.focus();
    }
  }

  private async test(): Promise<void> {
    if (this.busy) return;
    const name = this.provider.displayName;
    this.setBusy(true);
    this.host.announce(`Testing your ${name} key…`);
    try {
      const { result, summary } = await this.host.client().test(this.provider.id);
      this.setBusy(false);
      this.update(summary);
      const messages = {
        valid: [`${name} accepted your key.`, 'success'],
        invalid: [`${name} refused your key: ${'reason' in result ? result.reason : ''}`, 'error'],
        unreachable: [`${name} could not be reached. Try again later.`, 'error'],
        rate_limited: [`${name} is rate limiting requests. Try again later.`, 'error'],
      } as const;
      const [message, tone] = messages[result.status];
      this.host.announce(message, tone);
      this.host.changed(this.provider.id, 'tested', summary.status);
    } catch (error) {
      this.setBusy(false);
      this.host.announce(this.host.explain(error), 'error');
    }
    this.focusAction();
  }

  private async remove(): Promise<void> {
    if (this.busy) return;
    const name = this.provider.displayName;
    this.setBusy(true);
    try {
      await this.host.client().remove(this.provider.id);
      this.setBusy(false);
      this.update(undefined);
      this.opener = 'add';
      this.close();
      this.host.announce(`${name} key deleted.`, 'success');
      this.host.changed(this.provider.id, 'deleted', null);
    } catch (error) {
      this.setBusy(false);
      this.host.announce(this.host.explain(error), 'error');
    }
  }
}

export class KeyhavenKeys extends HTMLElement {
  static readonly observedAttributes = ['base-url', 'user-id', 'token', 'heading'];

  private readonly root: ShadowRoot;
  private readonly status: HTMLParagraphElement;
  private readonly list: HTMLUListElement;
  private readonly headingElement: HTMLHeadingElement;
  private readonly idPrefix = `khk${++instances}`;
  private cards = new Map<string, ProviderCard>();
  private tokenValue: string | undefined;
  private loadScheduled = false;
  private generation = 0;

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    const sheet = h('style', {}, styles);
    this.status = h('p', {
      className: 'status',
      part: 'status',
      role: 'status',
      'aria-live': 'polite',
      'aria-atomic': 'true',
    });
    this.list = h('ul', { className: 'providers', part: 'list' });
    this.headingElement = h('h2', { id: `${this.idPrefix}-title`, part: 'title' }, 'AI provider keys');
    const titleId = `${this.idPrefix}-title`;
    this.root.append(
      sheet,
      h(
        'section',
        { part: 'container', 'aria-labelledby': titleId },
        this.headingElement,
        h(
          'p',
          { className: 'intro', part: 'intro' },
          'Your keys are checked with the provider, stored encrypted, and never shown again.',
        ),
        this.status,
        this.list,
      ),
    );
  }

  /** The user token. Prefer the property: an attribute is visible to anything that reads the DOM. */
  get token(): string | undefined {
    return this.tokenValue ?? this.getAttribute('token') ?? undefined;
  }

  set token(value: string | undefined) {
    this.tokenValue = value || undefined;
    this.scheduleLoad();
  }

  get baseUrl(): string {
    // Default: the Keyhaven server this script was loaded from.
    return this.getAttribute('base-url') ?? new URL(import.meta.url).origin;
  }

  get userId(): string | undefined {
    return this.getAttribute('user-id') ?? undefined;
  }

  connectedCallback(): void {
    // A token set as a property before the element was upgraded lives on the instance: take it over.
    if (Object.hasOwn(this, 'token')) {
      const value = (this as unknown as { token?: string }).token;
      delete (this as unknown as { token?: string }).token;
      this.token = value;
    }
    this.scheduleLoad();
  }

  attributeChangedCallback(name: string): void {
    if (name === 'heading') {
      this.headingElement.textContent = this.getAttribute('heading') || 'AI provider keys';
      return;
    }
    if (this.isConnected) this.scheduleLoad();
  }

  /** Reloads providers and credentials (after the application minted a fresh token, for example). */
  refresh(): Promise<void> {
    return this.load();
  }

  client(): KeyhavenClient {
    const { token, userId } = this;
    if (!token || !userId) throw new ApiError(0, 'not_configured', 'Set user-id and token first.');
    return createClient({ baseUrl: this.baseUrl, userId, token });
  }

  announce(message: string, tone: 'info' | 'success' | 'error' = 'info'): void {
    this.status.dataset.tone = tone;
    // Cleared first so that the same message twice is announced twice.
    this.status.textContent = '';
    queueMicrotask(() => {
      this.status.textContent = message;
    });
  }

  explain(error: unknown): string {
    if (!(error instanceof ApiError)) return 'Something went wrong. Try again.';
    if (error.status === 401) {
      this.dispatchEvent(
        new CustomEvent('keyhaven-unauthorized', { bubbles: true, composed: true, detail: { status: 401 } }),
      );
      return 'Your session has expired. Reload the page to continue.';
    }
    if (error.code === 'provider_unavailable') return `The provider could not be reached: ${error.message}`;
    if (error.code === 'provider_rate_limited' || error.code === 'rate_limited') {
      return 'Too many attempts right now. Wait a moment and try again.';
    }
    return error.message;
  }

  changed(provider: string, action: 'stored' | 'tested' | 'deleted', status: string | null): void {
    this.dispatchEvent(
      new CustomEvent('keyhaven-change', {
        bubbles: true,
        composed: true,
        detail: { provider, action, status },
      }),
    );
  }

  closeOthers(except: ProviderCard): void {
    for (const card of this.cards.values()) if (card !== except) card.close({ focus: false });
  }

  private scheduleLoad(): void {
    if (this.loadScheduled) return;
    this.loadScheduled = true;
    queueMicrotask(() => {
      this.loadScheduled = false;
      if (this.isConnected) void this.load();
    });
  }

  private async load(): Promise<void> {
    if (!this.token || !this.userId) {
      this.announce('Waiting for a user and token.');
      return;
    }
    const generation = ++this.generation;
    this.setAttribute('aria-busy', 'true');
    this.announce('Loading your provider keys…');
    try {
      const client = this.client();
      const [providers, credentials] = await Promise.all([client.providers(), client.credentials()]);
      if (generation !== this.generation) return;
      const byProvider = new Map(credentials.map((summary) => [summary.provider, summary]));
      const next = new Map<string, ProviderCard>();
      for (const provider of providers) {
        const card = this.cards.get(provider.id) ?? new ProviderCard(this, provider, this.idPrefix);
        card.update(byProvider.get(provider.id));
        next.set(provider.id, card);
      }
      this.cards = next;
      this.list.replaceChildren(...[...next.values()].map((card) => card.element));
      const connected = credentials.filter((summary) => summary.connected).length;
      this.announce(`${providers.length} providers, ${connected} connected.`);
    } catch (error) {
      if (generation === this.generation) this.announce(this.explain(error), 'error');
    } finally {
      if (generation === this.generation) this.removeAttribute('aria-busy');
    }
  }
}

if (!customElements.get('keyhaven-keys')) customElements.define('keyhaven-keys', KeyhavenKeys);

declare global {
  interface HTMLElementTagNameMap {
    'keyhaven-keys': KeyhavenKeys;
  }
}
