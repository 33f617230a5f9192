/**
 * This process's tag (DROVER_PROCESS_TAG, see env.ts): every child carries it, so the sweep finds
 * what a dead plugin left behind. Its own module, free of execa, because the SDK (which must run on
 * plain Node with only its two dependencies) adopts the tag drover gave its plugin.
 */
import { PROCESS_TAG_ENV } from "./env.ts";

let coreTag: string | undefined;
/**
 * The tag every child of this process carries (see env.ts). A core makes a fresh one: a drover run
 * inside a job (whose environment carries the outer stage's tag) must not sweep its own ancestors.
 */
export function processTag(): string {
  coreTag ??= `drover-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  return coreTag;
}

/**
 * A plugin adopts the tag drover gave it, so that what it starts is found by drover's sweep when
 * the plugin dies (called once by the SDK's serve()).
 */
export function adoptProcessTag(): void {
  const inherited = process.env[PROCESS_TAG_ENV];
  if (inherited) coreTag = inherited;
}
