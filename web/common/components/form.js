// Forms with validation in the page: a field that is empty, too long, out of range or of the wrong type gets a
// clear message beside it and nothing is sent. Fields: {name, label, type, required, maxLength, min, max,
// pattern, patternMessage, options, hint, autocomplete, placeholder, initial}. Types: text, email, password,
// int, number, select, textarea, json (an object), list (comma-separated values, each checked by `pattern`).
import { html, useRef, useState } from '../html.js';
import { t } from '../i18n.js';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function check(field, raw) {
  const text = typeof raw === 'string' ? raw.trim() : raw;
  const empty = text === '' || text === undefined || text === null;
  if (empty) return field.required ? { error: t('form.required') } : { value: field.type === 'list' ? [] : null };
  if (field.maxLength && String(text).length > field.maxLength) return { error: t('form.too_long', { max: field.maxLength }) };
  switch (field.type) {
    case 'email':
      return EMAIL.test(text) ? { value: text } : { error: t('form.bad_email') };
    case 'int':
    case 'number': {
      const ok = field.type === 'int' ? /^-?\d+$/.test(text) : /^-?\d+(\.\d+)?$/.test(text);
      if (!ok) return { error: field.type === 'int' ? t('form.not_integer') : t('form.not_number') };
      const n = Number(text);
      if ((field.min !== undefined && n < field.min) || (field.max !== undefined && n > field.max)) {
        return { error: t('form.out_of_range', { min: field.min ?? '−∞', max: field.max ?? '∞' }) };
      }
      return { value: n };
    }
    case 'json': {
      let v;
      try {
        v = JSON.parse(text);
      } catch {
        return { error: t('form.bad_json') };
      }
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return { error: t('form.json_object') };
      return { value: v };
    }
    case 'list': {
      const items = text.split(/[\s,]+/).filter(Boolean);
      if (field.maxItems && items.length > field.maxItems) return { error: t('form.too_many', { max: field.maxItems }) };
      const bad = field.pattern ? items.find((x) => !field.pattern.test(x)) : undefined;
      if (bad !== undefined) return { error: field.patternMessage ? t(field.patternMessage, { value: bad }) : t('form.bad_value', { value: bad }) };
      return { value: items };
    }
    case 'select':
      return (field.options || []).some((o) => String(o.value) === String(text)) ? { value: text } : { error: t('form.bad_choice') };
    default:
      if (field.pattern && !field.pattern.test(text)) {
        return { error: field.patternMessage ? t(field.patternMessage) : t('form.bad_format') };
      }
      return { value: field.type === 'password' ? raw : text };
  }
}

// -> {errors: {name: message}, values: {name: parsed value}}
export function validate(fields, raw) {
  const errors = {};
  const values = {};
  for (const f of fields) {
    if (f.hidden) continue;
    const r = check(f, raw[f.name] ?? '');
    if (r.error) errors[f.name] = r.error;
    else values[f.name] = r.value;
  }
  return { errors, values };
}

function initialValues(fields) {
  const v = {};
  for (const f of fields) v[f.name] = f.initial ?? (f.type === 'select' && f.options && f.options.length ? String(f.options[0].value) : '');
  return v;
}

function Control({ id, field, value, error, onInput }) {
  const common = {
    id,
    name: field.name,
    'aria-invalid': error ? 'true' : 'false',
    'aria-describedby': `${id}-msg`,
    'aria-required': field.required ? 'true' : undefined,
  };
  if (field.type === 'select') {
    return html`<select ...${common} value=${value} onChange=${(e) => onInput(e.target.value)}>
      ${field.options.map((o) => html`<option value=${String(o.value)}>${o.label}</option>`)}
    </select>`;
  }
  if (field.type === 'textarea' || field.type === 'json') {
    return html`<textarea ...${common} rows=${field.rows || 4} placeholder=${field.placeholder || ''} value=${value}
      onInput=${(e) => onInput(e.target.value)}></textarea>`;
  }
  const type = { email: 'email', password: 'password', int: 'text', number: 'text' }[field.type] || 'text';
  return html`<input ...${common} type=${type} value=${value} placeholder=${field.placeholder || ''}
    inputmode=${field.type === 'int' || field.type === 'number' ? 'numeric' : undefined}
    autocomplete=${field.autocomplete || 'off'} onInput=${(e) => onInput(e.target.value)} />`;
}

// A whole form. onSubmit(values) may return a promise; its rejection's message is shown under the form.
// novalidate: the browser's own bubbles are replaced by the kit's messages (the same in both languages).
export function Form({ id, fields, onSubmit, submitLabel, secondary, resetOnSuccess = false, compact = false }) {
  const [raw, setRaw] = useState(() => initialValues(fields));
  const [errors, setErrors] = useState({});
  const [formError, setFormError] = useState('');
  const [busy, setBusy] = useState(false);
  const ref = useRef(null);
  const submit = async (e) => {
    e.preventDefault();
    if (busy) return;
    const { errors: errs, values } = validate(fields, raw);
    setErrors(errs);
    setFormError('');
    const first = fields.find((f) => errs[f.name]);
    if (first) {
      const el = ref.current && ref.current.querySelector(`#${id}-${first.name}`);
      if (el) el.focus();
      return;
    }
    setBusy(true);
    try {
      await onSubmit(values);
      if (resetOnSuccess) setRaw(initialValues(fields));
    } catch (err) {
      setFormError((err && err.message) || String(err));
    } finally {
      setBusy(false);
    }
  };
  return html`
    <form id=${id} ref=${ref} class=${compact ? 'form compact' : 'form'} novalidate onSubmit=${submit}>
      ${fields.filter((f) => !f.hidden).map((f) => {
        const fid = `${id}-${f.name}`;
        return html`
          <div class="field" key=${f.name}>
            <label for=${fid}>${f.label}${f.required ? html`<span class="req" aria-hidden="true"> *</span>` : ''}</label>
            <${Control} id=${fid} field=${f} value=${raw[f.name]} error=${errors[f.name]}
              onInput=${(v) => setRaw((r) => ({ ...r, [f.name]: v }))} />
            <div id=${`${fid}-msg`} class=${errors[f.name] ? 'msg error' : 'msg'}>${errors[f.name] || f.hint || ''}</div>
          </div>`;
      })}
      <div class="actions">
        <button type="submit" class="primary" disabled=${busy}>${busy ? t('form.sending') : submitLabel}</button>
        ${secondary}
      </div>
      <div class="form-error" role="alert" id=${`${id}-error`}>${formError}</div>
    </form>`;
}
