// checkYamlShape looks at a YAML text's shape before the yaml library builds anything from it. The
// library's document model grows without bound on hostile input: 60 KB of nested flow sequences
// ([[[[…) ran a master out of memory, a billion-laughs document expands aliases exponentially, and
// its cost per token (a few µs, more for keys, which it checks for duplicates pairwise) makes a
// large document block the event loop for hundreds of milliseconds. The library's own Lexer is
// cheap, linear and splits the text exactly as the parser will (quotes, comments, block scalars),
// so one pass over its tokens, stopped at the first limit crossed, bounds all three.

import { CST, Lexer } from 'yaml';

/** YamlLimits bound a document's shape. */
export interface YamlLimits {
  /** Nesting of collections, block and flow together. */
  readonly depth: number;
  /** Lexer tokens: each scalar, indicator, comment, run of spaces and line break counts one. */
  readonly tokens: number;
  /** Aliases (*name). */
  readonly aliases: number;
}

/** YamlShapeProblem is the first limit a document crosses, and the line where it does. */
export interface YamlShapeProblem {
  readonly limit: 'depth' | 'tokens' | 'aliases';
  readonly line: number;
  readonly message: string;
}

/**
 * checkYamlShape returns the first limit the text crosses, or undefined. Block nesting is counted
 * from indentation: each node that starts a line, and each `-` or `?` indicator, opens a level at
 * its column and closes the levels at or right of it. That is the nesting the parser will build,
 * give or take a level, which is all a limit needs.
 */
export function checkYamlShape(text: string, limits: YamlLimits): YamlShapeProblem | undefined {
  /** Columns of the open block levels, innermost last. */
  const block: number[] = [];
  let flow = 0;
  let tokens = 0;
  let aliases = 0;
  let line = 1;
  let col = 0;
  let lineStart = true;
  const problem = (limit: YamlShapeProblem['limit'], message: string): YamlShapeProblem => ({ limit, line, message: `${message} (at line ${line})` });
  const open = (at: number): YamlShapeProblem | undefined => {
    while (block.length > 0 && (block[block.length - 1] as number) >= at) block.pop();
    block.push(at);
    return block.length + flow > limits.depth ? problem('depth', `it is nested deeper than ${limits.depth} levels`) : undefined;
  };
  for (const token of new Lexer().lex(text)) {
    if (++tokens > limits.tokens) {
      return problem('tokens', `it has more than ${limits.tokens} YAML tokens (keys, values, indicators, comments, line breaks); a job config needs far fewer`);
    }
    const type = CST.tokenType(token);
    // Markers the lexer inserts take no room in the text.
    if (type === 'doc-mode' || type === 'scalar' || type === 'flow-error-end' || type === 'byte-order-mark') continue;
    const startCol = col;
    const breaks = countBreaks(token);
    if (breaks > 0) {
      line += breaks;
      col = token.length - token.lastIndexOf('\n') - 1;
    } else {
      col += token.length;
    }
    if (type === 'newline' || type === 'space' || type === 'comment') {
      // A block scalar's text comes as one "space" token that ends its last line.
      if (type === 'newline' || (breaks > 0 && token.endsWith('\n'))) lineStart = true;
      continue;
    }
    let crossed: YamlShapeProblem | undefined;
    switch (type) {
      case 'doc-start':
        block.length = 0;
        break;
      case 'alias':
        if (++aliases > limits.aliases) crossed = problem('aliases', `it has more than ${limits.aliases} aliases (*name)`);
        break;
      case 'flow-seq-start':
      case 'flow-map-start':
        if (flow === 0 && lineStart) crossed = open(startCol);
        flow++;
        if (crossed === undefined && block.length + flow > limits.depth) crossed = problem('depth', `it is nested deeper than ${limits.depth} levels`);
        break;
      case 'flow-seq-end':
      case 'flow-map-end':
        if (flow > 0) flow--;
        break;
      default:
        if (flow === 0 && (lineStart || type === 'seq-item-ind' || type === 'explicit-key-ind')) crossed = open(startCol);
    }
    lineStart = false;
    if (crossed !== undefined) return crossed;
  }
  return undefined;
}

function countBreaks(token: string): number {
  let n = 0;
  for (let i = token.indexOf('\n'); i >= 0; i = token.indexOf('\n', i + 1)) n++;
  return n;
}
