// Text that people and programs hand the master ends up in shells, environments, the log and
// terminals. A control character there is never meant: NUL cannot pass execve() at all (an agent
// would refuse the task forever), ESC rewrites the terminal of whoever lists the job, CR hides what
// a command really runs. So they are refused where the text comes in, naming the character.
//
// Tab and newline are the exception, and only where a shell command or an environment value
// legitimately holds them (a multi-line script, a PEM certificate): everywhere else (names, keys,
// hostnames, attribute values) no control character is allowed at all.

/** ControlCharacter is the first control character found in a text, and where. */
export interface ControlCharacter {
  /** The character's code point, e.g. 0 for NUL. */
  readonly code: number;
  /** Its position in the text (UTF-16 units, from 0). */
  readonly index: number;
  /** The character as a person reads it: "NUL (U+0000)", "ESC (U+001B)". */
  readonly name: string;
}

/** C0 controls, DEL and the C1 controls, which Unicode also counts as control characters (Cc). */
const ANY_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** The same, less tab and newline. */
const CONTROL_BUT_TAB_NEWLINE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

const NAMES: Record<number, string> = { 0x00: 'NUL', 0x07: 'BEL', 0x08: 'BS', 0x09: 'TAB', 0x0a: 'LF', 0x0b: 'VT', 0x0c: 'FF', 0x0d: 'CR', 0x1b: 'ESC', 0x7f: 'DEL', 0x85: 'NEL' };

/**
 * findControlCharacter returns the first control character of text, or undefined when there is
 * none; with allowTabNewline, tab and newline do not count.
 */
export function findControlCharacter(text: string, options: { allowTabNewline?: boolean } = {}): ControlCharacter | undefined {
  const m = (options.allowTabNewline === true ? CONTROL_BUT_TAB_NEWLINE : ANY_CONTROL).exec(text);
  if (m === null) return undefined;
  const code = m[0].charCodeAt(0);
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  const short = NAMES[code];
  return { code, index: m.index, name: short === undefined ? `the control character ${hex}` : `${short} (${hex})` };
}

/**
 * controlCharacterProblem says why text may not be taken, in a sentence that follows a field's
 * name, or undefined when it has no control character that is not allowed.
 */
export function controlCharacterProblem(text: string, options: { allowTabNewline?: boolean } = {}): string | undefined {
  const found = findControlCharacter(text, options);
  if (found === undefined) return undefined;
  const allowed = options.allowTabNewline === true ? 'tab and newline are the only control characters allowed' : 'no control character is allowed';
  return `contains ${found.name} at character ${found.index}; ${allowed}`;
}

/** MAX_SHOWN is how much of a refused value an error message repeats. */
const MAX_SHOWN = 80;

/**
 * quoted shows a value in an error message: in double quotes, control characters escaped (a
 * message must not carry the ESC it refuses to a terminal), cut at MAX_SHOWN characters.
 */
export function quoted(text: string): string {
  const cut = text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text;
  return JSON.stringify(cut).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const EVERY_CONTROL_BUT_TAB_NEWLINE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * escapeControls writes every control character but tab and newline as \uXXXX: for text that must
 * be taken whatever it holds (a task's status message, as its agent reports it: refusing it would
 * only make the agent retry forever) and is shown to people later.
 */
export function escapeControls(text: string): string {
  return text.replace(EVERY_CONTROL_BUT_TAB_NEWLINE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
