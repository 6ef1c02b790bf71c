/**
 * Checks over a composed YAML document, before it becomes JavaScript: NUL characters (no
 * setting takes one, and a command or a path holding one fails only when it is used),
 * numbers JSON cannot keep (.inf, .nan, 1e999: the controller stores documents as JSON),
 * duplicate keys (yaml's own check compares every key with every other, quadratic in a
 * map's size), and aliases — each must name an anchor before it, must not hold itself, and all of them
 * together must not expand the document past `maxValues` (the billion laughs: nine
 * aliases of nine aliases … is 9^9 values from 90 of them). The document's depth was
 * bounded before it was composed, so this walk recurses.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type Node as YamlNode } from 'yaml';

/** A problem at a node: its offset in the text and its path in the document. */
export interface NodeIssue {
  offset: number;
  path: PropertyKey[];
  message: string;
}

export function checkNodes(doc: Document, maxValues: number): NodeIssue[] {
  const issues: NodeIssue[] = [];
  const anchors = new Map<string, unknown>();
  /** Each finished node's size once every alias in it is expanded. */
  const sizes = new Map<unknown, number>();
  const open = new Set<unknown>();
  let expanded = 0;
  let exploded = false;

  /** Returns the node's expanded size; an alias counts as what it stands for. */
  const visit = (node: unknown, path: PropertyKey[]): number => {
    if (node === null || node === undefined) return 0;
    if (isAlias(node)) return aliasSize(node.source, node, path);
    if (isScalar(node) && typeof node.value === 'string' && node.value.includes('\u0000')) {
      issues.push({
        offset: startOf(node),
        path,
        message: 'holds a NUL character (\\u0000), which no kanari setting takes',
      });
    }
    if (isScalar(node) && typeof node.value === 'number' && !Number.isFinite(node.value)) {
      issues.push({
        offset: startOf(node),
        path,
        message: `must be a finite number (got ${node.value}): kanari keeps documents as JSON, which has none`,
      });
    }
    const anchor = (node as { anchor?: string } | null)?.anchor;
    if (anchor) anchors.set(anchor, node);
    open.add(node);
    let size = 1;
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = keyOf(pair.key);
        if (seen.has(key)) issues.push({ offset: startOf(pair.key), path: [...path, key], message: 'duplicate key' });
        seen.add(key);
        size += visit(pair.key, [...path, key]) + visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => (size += visit(item, [...path, i])));
    }
    expanded += 1;
    open.delete(node);
    sizes.set(node, size);
    return size;
  };

  const aliasSize = (name: string, alias: YamlNode, path: PropertyKey[]): number => {
    const target = anchors.get(name);
    const at = { offset: startOf(alias), path };
    if (target === undefined) {
      issues.push({ ...at, message: `alias *${name} names no anchor defined before it` });
      return 0;
    }
    if (open.has(target)) {
      issues.push({ ...at, message: `alias *${name} stands for a node that holds it (a loop)` });
      return 0;
    }
    const size = sizes.get(target) ?? 0;
    expanded += size;
    if (expanded > maxValues && !exploded) {
      exploded = true;
      issues.push({ ...at, message: `aliases expand this document to more than ${maxValues} values` });
    }
    return size;
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
