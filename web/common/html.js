// Preact + htm, bound once: every module of the kit and of its apps imports `html` and the hooks from here.
// The page's import map names "preact" and "preact/hooks" (the vendored files, see web/vendor/MANIFEST.json).
import { h, render, Fragment, createContext } from 'preact';
import htm from '../vendor/htm-3.1.1/htm.module.js';

export const html = htm.bind(h);
export { h, render, Fragment, createContext };
export { useState, useEffect, useRef, useMemo, useCallback, useContext, useReducer } from 'preact/hooks';
