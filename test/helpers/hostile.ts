/**
 * Documents written to hurt a YAML loader, each within the 1 MB the admin API accepts:
 * the admin, controller-API, lint and fuzz tests send the same ones.
 */

/** `{"a":{"a":…1…}}`, `depth` maps deep (issue 12 finding 3 sent 20,000). */
export const nestedFlowMaps = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

/** `[[[…]]]`, `depth` lists deep. */
export const nestedFlowLists = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

/** `- - - … 1`: block lists nested on one line, two bytes a level. */
export const nestedBlockLists = (depth: number): string => '- '.repeat(depth) + '1\n';

/** `a:\n a:\n  a: …`: block maps indented one more space a level (1,400 levels is about 1 MB). */
export const nestedBlockMaps = (depth: number): string =>
  Array.from({ length: depth }, (_, i) => `${' '.repeat(i)}a:`).join('\n') + ' 1\n';

/** `[1,1,1,…]` with `items` entries: shallow, but long to parse. */
export const hugeFlowList = (items: number): string => `[${'1,'.repeat(items - 1)}1]`;

/** A map with `keys` distinct keys: yaml's duplicate-key check is quadratic in them. */
export const hugeBlockMap = (keys: number): string =>
  Array.from({ length: keys }, (_, i) => `k${i}: 1`).join('\n') + '\n';

/** The billion laughs: nine aliases of nine aliases of … nine strings (9^9 once expanded). */
export function billionLaughs(): string {
  const names = 'abcdefghi';
  const lines = [`${names[0]}: &${names[0]} ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]`];
  for (let i = 1; i < names.length; i++)
    lines.push(
      `${names[i]}: &${names[i]} [${Array(9)
        .fill(`*${names[i - 1]}`)
        .join(',')}]`,
    );
  return lines.join('\n') + '\n';
}

/** A routing table whose stable pool is the billion laughs' last alias. */
export function billionLaughsTable(): string {
  return `${billionLaughs()}pools: { stable: *i }\n`;
}

/** Every deep or wide shape above at a size that took a process down, or blocked it for seconds, before issue 12. */
export const DEEP_DOCUMENTS: Record<string, string> = {
  'flow maps 20,000 deep': nestedFlowMaps(20_000),
  'flow lists 100,000 deep': nestedFlowLists(100_000),
  'block lists 100,000 deep': nestedBlockLists(100_000),
  'block maps 1,400 deep': nestedBlockMaps(1_400),
};
