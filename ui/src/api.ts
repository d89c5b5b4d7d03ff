// Reads the admin API (same origin, read-only). An answer that is not 2xx becomes an Error with the API's message.
export class ApiError extends Error {}

export async function getJson<T>(path: string, params: Record<string, string | undefined> = {}, signal?: AbortSignal): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const url = `/api/${path}${q.size > 0 ? `?${q}` : ''}`;
  const res = await fetch(url, { cache: 'no-store', headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) });
  const text = await res.text();
  if (!res.ok) {
    let message = text.trim();
    try {
      const body = JSON.parse(text) as { error?: unknown };
      if (typeof body.error === 'string') message = body.error;
    } catch {
      // not JSON: the text itself is the message
    }
    throw new ApiError(`${url}: ${res.status} ${message}`.slice(0, 500));
  }
  return JSON.parse(text) as T;
}
