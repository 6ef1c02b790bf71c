/**
 * Checks over a composed YAML document, before it becomes JavaScript: duplicate keys
 * (yaml's own check compares every key with every other, which is quadratic in a map's
 * size). The document's depth was bounded before it was composed, so this walk recurses.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type Node as YamlNode } from 'yaml';

/** A problem at a node: its offset in the text and its path in the document. */
export interface NodeIssue {
  offset: number;
  path: PropertyKey[];
  message: string;
}

export function checkNodes(doc: Document): NodeIssue[] {
  const issues: NodeIssue[] = [];
  const visit = (node: unknown, path: PropertyKey[]): void => {
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = keyOf(pair.key);
        if (seen.has(key)) issues.push({ offset: startOf(pair.key), path: [...path, key], message: 'duplicate key' });
        seen.add(key);
        visit(pair.key, [...path, key]);
        visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...path, i]));
    }
  };
  visit(doc.contents, []);
  return issues;
}

/** The property a key becomes in JavaScript: `1` and `"1"` are one key there. */
function keyOf(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  if (isAlias(key)) return `*${key.source}`;
  return String(key);
}

function startOf(node: unknown): number {
  return (node as YamlNode | null)?.range?.[0] ?? 0;
}
