// The API client: bearer token, the cloud's envelopes ({"success": true, "data": ...} / {"error": {code, message}}),
// ETag / If-None-Match. Nothing here knows one app: the caller gives how to get a token and what to do on a 401.

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status; // 0: the request never got an answer (network down, aborted)
    this.code = code || '';
    this.details = details;
  }
}

// Whether an error says the route does not exist on this server (an older cloud): API Gateway answers an
// unknown route 404 "Not Found" (an HTTP API) or 403 "Missing Authentication Token" (a REST API; Chalice local:
// 403/404), never in the cloud's envelope.
export function isMissingRoute(err) {
  return err instanceof ApiError && (err.status === 404 || err.status === 403) && !err.enveloped;
}

// The API's base URL: <meta name="ct-api-base" content="https://..."> when the API is on another origin,
// else this page's origin (the normal case: /api/* on the same origin, no CORS).
export function apiBase(doc = document) {
  const meta = doc.querySelector('meta[name="ct-api-base"]');
  const value = meta && meta.getAttribute('content');
  return (value || '').replace(/\/+$/, '');
}

function query(params) {
  if (!params) return '';
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.append(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export class ApiClient {
  // getToken: async () => bearer secret or null; onUnauthorized: (ApiError) => void (called on any 401);
  // extraHeaders: (method) => {header: value} added to each request (the LMS console's CSRF token on changes)
  constructor({ base = apiBase(), getToken = async () => null, onUnauthorized = () => {}, fetchImpl,
    extraHeaders = () => ({}) } = {}) {
    this.base = base;
    this.getToken = getToken;
    this.extraHeaders = extraHeaders;
    this.onUnauthorized = onUnauthorized;
    this.fetch = fetchImpl || window.fetch.bind(window);
  }

  // -> {status, data, etag, notModified}; throws ApiError on an error answer or no answer.
  async request(method, path, { params, body, etag, signal, anonymous = false } = {}) {
    const headers = { Accept: 'application/json', ...this.extraHeaders(method) };
    if (!anonymous) {
      const token = await this.getToken();
      if (token) headers.Authorization = `Bearer ${token}`;
    }
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (etag) headers['If-None-Match'] = etag;
    let res;
    try {
      res = await this.fetch(this.base + path + query(params), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: 'no-store',
        credentials: 'same-origin',
      });
    } catch (exc) {
      throw new ApiError(0, exc && exc.name === 'AbortError' ? 'aborted' : 'network', String(exc && exc.message));
    }
    const newEtag = res.headers.get('ETag');
    if (res.status === 304) return { status: 304, data: undefined, etag: newEtag || etag, notModified: true };
    let payload = null;
    const text = await res.text();
    if (text) {
      try {
        payload = JSON.parse(text);
      } catch {
        payload = null;
      }
    }
    if (!res.ok || (payload && payload.success === false)) {
      const err = (payload && payload.error) || {};
      const message = (typeof err === 'object' ? err.message : String(err)) || (payload && (payload.message || payload.Message)) || res.statusText;
      const { code, message: _m, ...details } = typeof err === 'object' ? err : {};
      // the cloud puts the code in error.code, the LMS beside it (error_code)
      const error = new ApiError(res.status, code || (payload && payload.error_code), message, details);
      error.enveloped = !!(payload && payload.error); // the cloud's own error, not the gateway's
      if (res.status === 401 && !anonymous) this.onUnauthorized(error);
      throw error;
    }
    const data = payload && typeof payload === 'object' && 'data' in payload ? payload.data : payload;
    return { status: res.status, data, etag: newEtag, notModified: false };
  }

  async get(path, params, opts = {}) {
    return (await this.request('GET', path, { ...opts, params })).data;
  }
  async post(path, body, opts = {}) {
    return (await this.request('POST', path, { ...opts, body })).data;
  }
  async put(path, body, opts = {}) {
    return (await this.request('PUT', path, { ...opts, body })).data;
  }
  async patch(path, body, opts = {}) {
    return (await this.request('PATCH', path, { ...opts, body })).data;
  }
  async del(path, opts = {}) {
    return (await this.request('DELETE', path, opts)).data;
  }

  // A poll of a whole cursor-paged listing: the first page carries If-None-Match (304: nothing changed, one
  // cheap read), the rest are read only when it changed. -> {notModified, data: {[key]: items}, etag}
  async pollAll({ etag }, path, key, params = {}, max = 20000) {
    const first = await this.request('GET', path, { params: { limit: 500, ...params }, etag });
    if (first.notModified) return first;
    const items = [...((first.data && first.data[key]) || [])];
    let cursor = first.data && first.data.cursor;
    while (cursor && items.length < max) {
      const page = await this.get(path, { limit: 500, ...params, cursor });
      items.push(...((page && page[key]) || []));
      cursor = page && page.cursor;
    }
    return { notModified: false, etag: first.etag, data: { [key]: items } };
  }

  // Every item of a cursor-paged listing (`{<key>: [...], cursor}`), at most `max` items.
  async all(path, key, params = {}, max = 20000) {
    const items = [];
    let cursor = null;
    do {
      const page = await this.get(path, { ...params, cursor, limit: params.limit || 500 });
      items.push(...((page && page[key]) || []));
      cursor = page && page.cursor;
    } while (cursor && items.length < max);
    return items;
  }
}
