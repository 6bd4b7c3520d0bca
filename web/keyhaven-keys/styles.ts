/**
 * The component's stylesheet. Every colour, the font, radius and spacing come from --keyhaven-* custom
 * properties (documented in the README), whose defaults meet WCAG AA contrast on the default background.
 */
export const styles = `
:host {
  --_font: var(--keyhaven-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
  --_text: var(--keyhaven-color-text, #1b1f24);
  --_muted: var(--keyhaven-color-muted, #4f5661);
  --_background: var(--keyhaven-color-background, #ffffff);
  --_surface: var(--keyhaven-color-surface, #f6f7f9);
  --_border: var(--keyhaven-color-border, #c9ced6);
  --_accent: var(--keyhaven-color-accent, #0a58ca);
  --_accent-text: var(--keyhaven-color-accent-text, #ffffff);
  --_danger: var(--keyhaven-color-danger, #b3261e);
  --_danger-text: var(--keyhaven-color-danger-text, #ffffff);
  --_success: var(--keyhaven-color-success, #146c2e);
  --_warning: var(--keyhaven-color-warning, #8a4b00);
  --_focus: var(--keyhaven-color-focus, #0a58ca);
  --_radius: var(--keyhaven-radius, 8px);
  --_space: var(--keyhaven-spacing, 1rem);
  display: block;
  color: var(--_text);
  background: var(--_background);
  font-family: var(--_font);
  font-size: var(--keyhaven-font-size, 1rem);
  line-height: 1.45;
}
:host([hidden]) { display: none; }
* { box-sizing: border-box; }
h2 { font-size: 1.25em; margin: 0 0 calc(var(--_space) * 0.5); }
h3 { font-size: 1.05em; margin: 0; }
p { margin: 0; }
.intro { color: var(--_muted); margin-bottom: var(--_space); }
.status {
  min-height: 1.45em;
  margin-bottom: calc(var(--_space) * 0.75);
  font-weight: 600;
}
.status[data-tone="error"] { color: var(--_danger); }
.status[data-tone="success"] { color: var(--_success); }
ul.providers { list-style: none; margin: 0; padding: 0; display: grid; gap: calc(var(--_space) * 0.75); }
li.provider {
  border: 1px solid var(--_border);
  border-radius: var(--_radius);
  background: var(--_surface);
  padding: var(--_space);
}
.head { display: flex; align-items: center; gap: calc(var(--_space) * 0.75); flex-wrap: wrap; }
.head img { width: 32px; height: 32px; border-radius: 6px; flex: none; }
.head h3 { flex: 1 1 auto; }
.description { color: var(--_muted); font-size: 0.92em; margin-top: calc(var(--_space) * 0.5); }
.badge {
  display: inline-block;
  border-radius: 999px;
  padding: 0.1em 0.7em;
  font-size: 0.85em;
  font-weight: 600;
  border: 1px solid currentColor;
  background: var(--_background);
}
.badge[data-status="valid"] { color: var(--_success); }
.badge[data-status="invalid"] { color: var(--_danger); }
.badge[data-status="unverified"], .badge[data-status="retired"] { color: var(--_warning); }
.badge[data-status="none"] { color: var(--_muted); }
dl.details {
  display: grid;
  grid-template-columns: max-content 1fr;
  gap: 0.2em var(--_space);
  margin: calc(var(--_space) * 0.75) 0 0;
  font-size: 0.95em;
}
dl.details dt { color: var(--_muted); }
dl.details dd { margin: 0; }
code.masked { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.reason { color: var(--_danger); margin-top: calc(var(--_space) * 0.5); }
.actions { display: flex; flex-wrap: wrap; gap: 0.5em; margin-top: calc(var(--_space) * 0.75); }
button {
  font: inherit;
  font-size: 0.95em;
  min-height: 2.5em;
  padding: 0.4em 1em;
  border-radius: calc(var(--_radius) * 0.75);
  border: 1px solid var(--_border);
  background: var(--_background);
  color: var(--_text);
  cursor: pointer;
}
button.primary { background: var(--_accent); border-color: var(--_accent); color: var(--_accent-text); }
button.danger { background: var(--_danger); border-color: var(--_danger); color: var(--_danger-text); }
button:hover:not(:disabled) { filter: brightness(0.93); }
button:disabled { cursor: progress; opacity: 0.7; }
button:focus-visible, input:focus-visible, textarea:focus-visible {
  outline: 3px solid var(--_focus);
  outline-offset: 2px;
}
form, .confirm {
  margin-top: calc(var(--_space) * 0.75);
  padding-top: calc(var(--_space) * 0.75);
  border-top: 1px solid var(--_border);
}
.field { display: grid; gap: 0.25em; margin-bottom: calc(var(--_space) * 0.75); }
label { font-weight: 600; }
.optional { font-weight: 400; color: var(--_muted); }
.hint { color: var(--_muted); font-size: 0.9em; }
input, textarea {
  font: inherit;
  width: 100%;
  padding: 0.5em 0.65em;
  border-radius: calc(var(--_radius) * 0.75);
  border: 1px solid var(--_border);
  background: var(--_background);
  color: var(--_text);
}
textarea { min-height: 6em; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.85em; }
input[aria-invalid="true"], textarea[aria-invalid="true"] { border-color: var(--_danger); border-width: 2px; }
.form-error { color: var(--_danger); font-weight: 600; margin-bottom: calc(var(--_space) * 0.75); }
.form-error:empty { display: none; }
.visually-hidden {
  position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
@media (prefers-reduced-motion: no-preference) {
  button { transition: filter 120ms ease-out; }
}
@media (forced-colors: active) {
  .badge { border: 1px solid CanvasText; }
}
`;
