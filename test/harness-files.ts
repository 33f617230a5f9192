/**
 * Test helpers for files drover must fail to write, whoever runs the tests: a directory made
 * unwritable so that creating a file in it fails. For an ordinary user that is `chmod 0500`; root
 * ignores permissions, so for root it is the immutable attribute (`chattr +i`, which stops root
 * too). Either way the write really fails; nothing is skipped.
 */
import { chmodSync, statSync } from "node:fs";

/** Makes `dir` refuse new files until disposed (`using _ = unwritableDirectory(dir)`). */
export function unwritableDirectory(dir: string): Disposable {
  if (process.getuid?.() !== 0) {
    const mode = statSync(dir).mode & 0o7777;
    chmodSync(dir, 0o500);
    return { [Symbol.dispose]: () => chmodSync(dir, mode) };
  }
  chattr("+i", dir);
  return { [Symbol.dispose]: () => chattr("-i", dir) };
}

function chattr(flag: "+i" | "-i", dir: string): void {
  const result = Bun.spawnSync(["chattr", flag, dir], { stderr: "pipe" });
  if (result.exitCode !== 0)
    throw new Error(
      `chattr ${flag} ${dir} failed (needed to make a directory unwritable for root): ${result.stderr.toString()}`,
    );
}

/** `text` as a regular expression that matches it literally. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
