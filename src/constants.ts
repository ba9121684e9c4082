/**
 * Linux constants the API takes (`O_*`, `AF_*`, `POLL*`, ...), read from the
 * system headers when the addon was built (native/js_constants.c).
 */
import { native } from './native.js';

/** Linux constants by name. A name the build machine's headers lack is absent. */
export const constants: Readonly<Record<string, number>> = Object.freeze({ ...native.constants });
