// Hooks that tie the kit's stores and the poller to components.
import { useEffect, useRef, useState } from './html.js';
import { Poller } from './poller.js';

// The current value of a store; the component re-renders when it changes.
export function useStore(store) {
  const [value, setValue] = useState(store.get());
  useEffect(() => store.subscribe(setValue), [store]);
  return value;
}

// Poll GET `path` (with `params`) through `client` at the user's interval with If-None-Match.
// -> {data, error, loading, refresh}. `path` null: nothing is polled.
export function usePoll(client, path, params) {
  const key = path === null ? null : path + JSON.stringify(params || {});
  return usePollWith(({ etag }) => client.request('GET', path, { params, etag }), key);
}

// Poll with any function ({etag, since}) => {notModified, data, etag, since}; it restarts when `key` changes
// (null: nothing is polled).
export function usePollWith(poll, key) {
  const [state, setState] = useState({ data: undefined, error: null, loading: true });
  const poller = useRef(null);
  useEffect(() => {
    if (key === null) return undefined;
    setState({ data: undefined, error: null, loading: true });
    const p = new Poller({
      poll,
      onData: (data) => setState({ data, error: null, loading: false }),
      onError: (error) => setState((s) => ({ ...s, error, loading: false })),
    });
    poller.current = p;
    p.start();
    return () => p.stop();
  }, [key]);
  return { ...state, refresh: () => poller.current && poller.current.now() };
}

// Load once (and again when `deps` change); -> {data, error, loading, reload}.
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: undefined, error: null, loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState({ data: undefined, error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  return { ...state, reload: () => setN((x) => x + 1) };
}
