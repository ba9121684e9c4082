/**
 * The `maxSwitches` option of `new UringMachine()`: how the turn balances the
 * runqueue against I/O (docs/API.md, docs/ARCHITECTURE.md "The turn"). Its
 * forms, checked here before the ring is set up:
 *   - a number: a fixed limit of resumptions per turn (64 was the default);
 *   - `{ runqueueShare, min?, max? }`: a share of the runqueue's length,
 *     down to `min` while completions already wait in the ring;
 *   - `'adaptive'` (the default) or `{ targetLatencyMs?, min?, max? }`: the
 *     limit steered toward a target time between I/O passes, measured with
 *     a sampled CPU clock (bench/RESULTS.md, "Balancing", for the choice).
 * @internal
 */
import type { SwitchPolicy } from './core.js';
import { argTypeError, rangeError, validateInt32 } from './validate.js';

/** What every form of the option accepts. */
export type MaxSwitchesOption =
  | number
  | 'adaptive'
  | { runqueueShare: number; min?: number; max?: number }
  | { targetLatencyMs?: number; min?: number; max?: number };

/** The default when the option is left out. @internal */
export const DEFAULT_MAX_SWITCHES: MaxSwitchesOption = 'adaptive';
/** The latency policy's target when none is given (ms between I/O passes). @internal */
export const DEFAULT_TARGET_MS = 1;
const SHARE_MIN = 16;
const LATENCY_MIN = 8;
const POLICY_MAX = 4096;

const NAME = 'opts.maxSwitches';
const EXPECTED = "of type number, 'adaptive', { runqueueShare } or { targetLatencyMs }";

/** The policy the Core runs for an option value; throws on a bad one. @internal */
export function switchPolicy(v: unknown): SwitchPolicy {
  if (v === undefined) v = DEFAULT_MAX_SWITCHES;
  if (typeof v === 'number') {
    validateInt32(v, NAME, 1);
    return { kind: 'fixed', limit: v };
  }
  if (v === 'adaptive') return { kind: 'latency', targetMs: DEFAULT_TARGET_MS, min: LATENCY_MIN, max: POLICY_MAX };
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw argTypeError(NAME, EXPECTED, v);
  const o = v as { runqueueShare?: unknown; targetLatencyMs?: unknown; min?: unknown; max?: unknown };
  const share = 'runqueueShare' in o && o.runqueueShare !== undefined;
  if (share && o.targetLatencyMs !== undefined) {
    throw argTypeError(NAME, `${EXPECTED} (not both runqueueShare and targetLatencyMs)`, v);
  }
  const min = o.min ?? (share ? SHARE_MIN : LATENCY_MIN);
  validateInt32(min, `${NAME}.min`, 1);
  const max = o.max ?? Math.max(POLICY_MAX, min);
  validateInt32(max, `${NAME}.max`, min);
  if (share) {
    const s = o.runqueueShare;
    if (typeof s !== 'number') throw argTypeError(`${NAME}.runqueueShare`, 'of type number', s);
    if (!(s > 0 && s <= 1)) throw rangeError(`${NAME}.runqueueShare`, '> 0 and <= 1', s);
    return { kind: 'share', share: s, min, max };
  }
  const t = o.targetLatencyMs ?? DEFAULT_TARGET_MS;
  if (typeof t !== 'number') throw argTypeError(`${NAME}.targetLatencyMs`, 'of type number', t);
  if (!(t > 0 && t <= 60_000)) throw rangeError(`${NAME}.targetLatencyMs`, '> 0 and <= 60000', t);
  return { kind: 'latency', targetMs: t, min, max };
}
