/**
 * Code in the docs, tested as written: a page's fenced blocks whose info string carries
 * `title="NAME"` (```ts title="hello-executor.ts"), by NAME, within one of its sections.
 */
import { readFileSync } from "node:fs";

/** The `## TITLE` section of the markdown file `page`, up to the next `## `. */
export function docSection(page: string, title: string): string {
  const doc = readFileSync(page, "utf8");
  const start = doc.indexOf(`\n## ${title}\n`);
  const end = doc.indexOf("\n## ", start + 1);
  if (start < 0) throw new Error(`no section "${title}" in ${page}`);
  return doc.slice(start, end < 0 ? undefined : end);
}

/** The fenced blocks of `markdown` whose info string carries `title="NAME"`, by NAME. */
export function titledBlocks(markdown: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const match of markdown.matchAll(/^```\w+ title="([^"]+)"\n([\s\S]*?)^```$/gm)) {
    blocks.set(match[1]!, match[2]!);
  }
  return blocks;
}
